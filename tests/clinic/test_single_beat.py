"""Exactly one beat: a second ``celery beat`` started by mistake stays idle until the first is gone.

Two real beat processes on the real Redis (celery-redbeat's lock), under a key prefix and a
queue of this test's own, with a one-second entry and a five-second lock.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import redis
from django.conf import settings

from tests.conftest import redis_up, require_service, wait_for

ROOT = Path(__file__).resolve().parents[2]
LOCK_TIMEOUT = 5  # seconds; the loop (and the lock's renewal) runs every second
SENT = "Sending due task tick"
ACQUIRED = "beat: Acquired lock"
STARTING = "beat: Starting..."


def test_the_beat_schedules_through_a_redis_lock_renewed_well_inside_its_lifetime():
    from redbeat.schedulers import RedBeatConfig

    from clinic.celery import app

    assert settings.CELERY_BEAT_SCHEDULER == "redbeat.RedBeatScheduler"
    conf = RedBeatConfig(app)
    # Read as set, not as a fallback on the broker's settings (clinic.celery copies the keys).
    assert conf.is_key_in_conf("redbeat_redis_url") and conf.is_key_in_conf("redbeat_redis_options")
    assert conf.redis_url == settings.REDIS_URL
    assert conf.lock_key == conf.key_prefix + ":lock"
    assert conf.lock_timeout == settings.CELERY_REDBEAT_LOCK_TIMEOUT
    assert app.conf.beat_max_loop_interval * 5 <= conf.lock_timeout


class Beat:
    def __init__(self, name: str, log: Path, env: dict[str, str]) -> None:
        self.log = log
        self.handle = log.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "clinic", "beat", "--loglevel", "INFO"],
            cwd=ROOT,
            env=env,
            stdout=self.handle,
            stderr=subprocess.STDOUT,
        )

    def text(self) -> str:
        return self.log.read_text()

    def sent(self) -> int:
        return self.text().count(SENT)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.handle.close()


@pytest.fixture
def beats(tmp_path):
    require_service("Redis", redis_up())
    tag = uuid.uuid4().hex[:10]
    prefix, queue = f"test-beat-{tag}:", f"test-beat-{tag}"
    env = {
        **{k: v for k, v in os.environ.items() if k not in {"DJANGO_SETTINGS_MODULE", "DATABASE_URL"}},
        "DJANGO_SETTINGS_MODULE": "tests.clinic.beat_settings",
        "PYTHONPATH": str(ROOT),
        "REDIS_URL": settings.REDIS_URL,
        "BEAT_KEY_PREFIX": prefix,
        "BEAT_LOCK_TIMEOUT": str(LOCK_TIMEOUT),
        "BEAT_TEST_QUEUE": queue,
        "LOG_LEVEL": "INFO",
    }
    started: list[Beat] = []

    def start(name: str) -> Beat:
        beat = Beat(name, tmp_path / f"{name}.log", env)
        started.append(beat)
        return beat

    client = redis.Redis.from_url(settings.REDIS_URL)
    start.queue_length = lambda: client.llen(queue)  # type: ignore[attr-defined]
    start.lock_key = f"{prefix}:lock"  # type: ignore[attr-defined]
    start.client = client  # type: ignore[attr-defined]
    yield start
    for beat in started:
        beat.stop()
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)
    client.delete(queue, f"_kombu.binding.{queue}")


def test_a_second_beat_stays_idle_and_takes_over_only_after_the_lock_expires(beats):
    first = beats("first")
    assert wait_for(lambda: first.sent() >= 2, timeout=60), first.text()
    assert ACQUIRED in first.text()

    second = beats("second")
    # The second has started and is waiting for the lock: it sends nothing while the first ticks.
    assert wait_for(lambda: STARTING in second.text(), timeout=60), second.text()
    sent_before = first.sent()
    time.sleep(LOCK_TIMEOUT + 1)
    assert first.sent() >= sent_before + LOCK_TIMEOUT - 1
    assert second.sent() == 0 and ACQUIRED not in second.text(), second.text()
    assert beats.client.ttl(beats.lock_key) > 0

    # The first dies without releasing its lock: the second waits for the lock to expire.
    first.process.send_signal(signal.SIGKILL)
    first.process.wait(timeout=10)
    killed_at = time.monotonic()
    sent_by_first = first.sent()
    assert wait_for(lambda: ACQUIRED in second.text(), timeout=LOCK_TIMEOUT + 10), second.text()
    took_over_after = time.monotonic() - killed_at
    assert wait_for(lambda: second.sent() >= 2, timeout=10), second.text()

    # Renewed at most a second before the kill, the lock lives at least LOCK_TIMEOUT - 1 more.
    assert LOCK_TIMEOUT - 1.5 <= took_over_after <= LOCK_TIMEOUT + 5, took_over_after
    # Nothing else reached the queue than what the lock holder of the time logged sending (a
    # beat killed between its log line and the publish may leave one line without a message).
    second.stop()
    logged = sent_by_first + second.sent()
    assert logged - 2 <= beats.queue_length() <= logged
    print(f"second beat took over {took_over_after:.1f} s after the first was killed (lock {LOCK_TIMEOUT} s)")


def test_a_second_beat_takes_over_at_once_when_the_first_stops_cleanly(beats):
    first = beats("first")
    assert wait_for(lambda: first.sent() >= 1, timeout=60), first.text()
    second = beats("second")
    assert wait_for(lambda: STARTING in second.text(), timeout=60), second.text()
    time.sleep(1.5)
    assert second.sent() == 0

    first.process.send_signal(signal.SIGTERM)  # what a supervisor sends: the lock is released
    first.process.wait(timeout=15)
    stopped_at = time.monotonic()
    assert "beat: Releasing lock" in first.text(), first.text()
    assert wait_for(lambda: second.sent() >= 1, timeout=LOCK_TIMEOUT + 10), second.text()
    # It polls for the lock every loop interval (one second here), not after the lock's lifetime.
    assert time.monotonic() - stopped_at < LOCK_TIMEOUT - 1

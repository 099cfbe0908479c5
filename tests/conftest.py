from __future__ import annotations

import datetime as dt
import os
import shutil
import time
import zoneinfo

import pytest
import time_machine

from clinic.roles import FRONT_DESK, MANAGER, PRACTITIONER
from tests.factories import LocationFactory, staff

IN_CI = os.environ.get("CI", "").lower() == "true"


# --- The whole session at another time ------------------------------------------------------
# ``pytest --clock 2026-12-02T23:30`` (or TEST_CLOCK=...) starts the session at that instant
# and lets the clock tick on from there, in every xdist worker. A naive instant is read in the
# clinic's zone; give an offset to pick one of the two 01:30s of the night the clocks go back
# (``2026-10-25T01:30+00:00`` is the second). Tests that need a particular "now" still freeze
# it themselves with time-machine, on top of this.


def pytest_addoption(parser):
    parser.addoption(
        "--clock",
        default=os.environ.get("TEST_CLOCK", ""),
        help="run the session with the wall clock moved to this ISO 8601 instant (it keeps ticking)",
    )


def clock_instant(text: str) -> dt.datetime:
    """The instant of ``--clock``: ISO 8601, naive meaning the clinic's time zone."""
    when = dt.datetime.fromisoformat(text)
    if when.tzinfo is None:
        zone = zoneinfo.ZoneInfo(os.environ.get("TIME_ZONE", "Europe/London"))
        when = when.replace(tzinfo=zone)
        # A wall time that does not exist (the hour skipped when clocks go forward) is refused
        # rather than silently shifted: the run would not be at the instant it names.
        if when.astimezone(dt.UTC).astimezone(zone).replace(tzinfo=None) != when.replace(tzinfo=None):
            raise pytest.UsageError(f"--clock {text}: that local time does not exist in {zone.key}")
    return when


_CLOCK = pytest.StashKey[time_machine.travel]()


def pytest_configure(config):
    text = config.getoption("--clock")
    if text:
        traveller = time_machine.travel(clock_instant(text), tick=True)
        traveller.start()
        config.stash[_CLOCK] = traveller


def pytest_unconfigure(config):
    traveller = config.stash.get(_CLOCK, None)
    if traveller is not None:
        traveller.stop()


def pytest_report_header(config):
    text = config.getoption("--clock")
    if text:
        return f"clock moved to {clock_instant(text).isoformat()} (ticking)"
    return None


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    """Rate counters and the replay memory (the ``ratelimit`` cache, in memory under test
    settings) start empty for every test: test clients share one address, so one test's
    requests must not use up the next one's allowance."""
    from django.core.cache import caches

    caches["ratelimit"].clear()
    yield
    caches["ratelimit"].clear()


@pytest.fixture(autouse=True)
def _private_media(settings, tmp_path):
    """Every test writes private files into its own temporary folder."""
    root = tmp_path / "private"
    root.mkdir()
    settings.PRIVATE_MEDIA_ROOT = root
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "clinic.storage.PrivateFileSystemStorage",
            "OPTIONS": {"location": str(root), "base_url": None},
        },
        "private": {
            "BACKEND": "clinic.storage.PrivateFileSystemStorage",
            "OPTIONS": {"location": str(root), "base_url": None},
        },
    }
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def location(db):
    return LocationFactory(name="Marylebone", code="marylebone")


@pytest.fixture
def other_location(db):
    return LocationFactory(name="Manchester", code="manchester")


@pytest.fixture
def front_desk(location):
    return staff(FRONT_DESK, location, username="fd")


@pytest.fixture
def practitioner(location):
    return staff(PRACTITIONER, location, username="prac", first_name="Priya", last_name="Shah")


@pytest.fixture
def manager(location):
    return staff(MANAGER, location, username="mgr")


@pytest.fixture
def other_manager(other_location):
    """A manager who works only at the other location."""
    return staff(MANAGER, other_location, username="mgr_other")


@pytest.fixture
def client_for(client):
    """client_for(user) → a test client signed in as that user."""

    def make(user):
        client.force_login(user)
        return client

    return make


def require_service(name: str, available: bool) -> None:
    """Skip when a service is missing on a developer's machine; fail in CI."""
    if available:
        return
    if IN_CI:
        pytest.fail(f"{name} is required in CI but is not available.")
    pytest.skip(f"{name} is not available on this machine.")


def redis_up() -> bool:
    import redis
    from django.conf import settings

    try:
        redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1).ping()
    except Exception:
        return False
    return True


def wait_for(predicate, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


@pytest.fixture
def worker():
    """A real Celery worker (a thread, solo pool) on Redis, consuming a queue of its own.

    Use with ``@pytest.mark.django_db(transaction=True)``: the worker has its own connection.
    """
    require_service("Redis", redis_up())
    from celery.contrib.testing.worker import start_worker

    from clinic.celery import app

    # A queue of our own so parallel runs on the same Redis do not take each other's tasks.
    queue = f"test-{time.time_ns()}"
    app.conf.task_default_queue = queue
    try:
        with start_worker(
            app,
            pool="solo",
            perform_ping_check=False,
            queues=[queue],
            loglevel="WARNING",
            shutdown_timeout=10,
        ):
            yield
    finally:
        app.conf.task_default_queue = "celery"


# --- Private files in an S3 bucket (moto's server mode) -------------------------------------


@pytest.fixture(scope="session")
def moto_s3_endpoint():
    """A local S3-compatible server (moto's server mode, a thread) on a free 127.0.0.1 port.

    No internet and no credentials of anyone's: boto3 talks HTTP to this endpoint as it would
    to a real bucket's, with the signatures and the calls a deployment makes.
    """
    import socket

    from moto.server import ThreadedMotoServer

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_private_storage(moto_s3_endpoint, settings, monkeypatch):
    """``storages["private"]`` (and ``default``) on a fresh bucket of the moto server.

    Yields ``.bucket`` (its name) and ``.client``, a boto3 S3 client on the same server for
    looking at the bucket behind the site's back (objects, ACLs). The settings are those of
    ``PRIVATE_STORAGE=s3``.
    """
    import uuid
    from types import SimpleNamespace

    import boto3

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    bucket = f"clinic-test-{uuid.uuid4().hex[:12]}"
    client = boto3.client("s3", endpoint_url=moto_s3_endpoint, region_name="eu-west-2")
    client.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-2"})
    storage = {
        "BACKEND": "clinic.storage.PrivateS3Storage",
        "OPTIONS": {
            "bucket_name": bucket,
            "endpoint_url": moto_s3_endpoint,
            "region_name": "eu-west-2",
            "location": "",
            "querystring_expire": settings.PRIVATE_SIGNED_URL_SECONDS,
            "max_memory_size": 0,
        },
    }
    settings.PRIVATE_STORAGE = "s3"
    settings.STORAGES = {**settings.STORAGES, "default": storage, "private": storage}
    yield SimpleNamespace(client=client, bucket=bucket)
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for obj in page.get("Contents", []):
            client.delete_object(Bucket=bucket, Key=obj["Key"])
    client.delete_bucket(Bucket=bucket)

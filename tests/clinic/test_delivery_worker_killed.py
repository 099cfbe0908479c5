"""A worker killed mid-send: the row is sent again, and both copies are one message.

A real SMTP server (aiosmtpd, in a thread) takes the first copy's DATA and then holds its
reply, so the sending process is mid-send: the server has the message, the sender does not
know. That process is a separate Python (the test settings, the test database), and it is
killed with SIGKILL, as the outside attack did. Past the stale-claim time the sweep releases
the row and this process sends it again; the server records both copies, and both carry the
same Message-ID, so the patient's mail system shows one message.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email
import email.policy
import os
import signal
import socket
import subprocess
import sys
import threading
import zoneinfo
from pathlib import Path

import pytest
import time_machine
from aiosmtpd.controller import Controller
from django.db import connection

from clinic import channels
from clinic.models import Notification
from clinic.notifications import (
    NotificationKind,
    notification_send,
    notifications_bulk_queue,
    outbox_due_ids,
    stale_claim,
)
from tests.conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]
# A fixed weekday morning: the test is about delivery, not about the hour it runs at.
MOMENT = dt.datetime(2026, 6, 10, 10, 0, tzinfo=zoneinfo.ZoneInfo("Europe/London"))

# The worker: the test settings, this test's database (pytest-django's name for it, on SQLite a
# file, on PostgreSQL test_<name>), the SMTP server, and the test's clock, ticking.
WORKER = """
import datetime, os, sys
import time_machine
time_machine.travel(datetime.datetime.fromisoformat(os.environ["WORKER_CLOCK"]), tick=True).start()
from django.conf import settings
settings.DATABASES["default"]["NAME"] = os.environ["WORKER_DB_NAME"]
import django
django.setup()
settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", int(os.environ["WORKER_SMTP_PORT"])
settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
settings.EMAIL_TIMEOUT = 120  # it must still be waiting for the reply when it is killed
from clinic.notifications import notification_send
print(notification_send(notification_id=int(os.environ["WORKER_NOTIFICATION"])), flush=True)
"""


class StallingHandler:
    """Records every message as soon as its DATA is in, then holds the first one's reply."""

    def __init__(self) -> None:
        self.received: list[bytes] = []
        self.release = threading.Event()

    async def handle_DATA(self, server, session, envelope) -> str:
        self.received.append(envelope.content)
        if len(self.received) == 1:
            while not self.release.is_set():  # the event loop's clock is monotonic: not travelled
                await asyncio.sleep(0.05)
        return "250 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def smtp_server():
    handler = StallingHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=_free_port())
    controller.start()
    yield handler, controller.port
    handler.release.set()
    controller.stop()


def _start_worker(notification_id: int, port: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "clinic.settings_test",
        "WORKER_DB_NAME": str(connection.settings_dict["NAME"]),
        "WORKER_CLOCK": MOMENT.isoformat(),
        "WORKER_SMTP_PORT": str(port),
        "WORKER_NOTIFICATION": str(notification_id),
    }
    return subprocess.Popen(
        [sys.executable, "-c", WORKER],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_send_killed_mid_data_is_sent_again_as_the_same_message(smtp_server, settings):
    handler, port = smtp_server
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    with time_machine.travel(MOMENT, tick=False) as traveller:
        notifications_bulk_queue(
            [
                Notification(
                    kind=NotificationKind.DOCUMENT_EXPIRY,
                    channel="email",
                    subject="A document expires soon",
                    body="The fridge calibration certificate expires in 30 days.",
                    dedupe_key="test:killed-worker",
                    to_address="manager@example.com",
                    due_at=MOMENT,
                )
            ]
        )
        row = Notification.objects.get(dedupe_key="test:killed-worker")

        worker = _start_worker(row.pk, port)
        try:
            arrived = wait_for(lambda: len(handler.received) == 1 or worker.poll() is not None, timeout=60)
            assert arrived and worker.poll() is None, worker.communicate(timeout=10)
            os.kill(worker.pid, signal.SIGKILL)
        finally:
            if worker.poll() is None:
                worker.kill()
            worker.wait(timeout=10)
        assert worker.returncode == -signal.SIGKILL
        handler.release.set()  # the server finishes the dead connection's reply

        row.refresh_from_db()
        assert row.status == "sending" and row.attempts == 1  # its claim, left by the dead worker

        traveller.move_to(MOMENT + dt.timedelta(minutes=5), tick=False)
        assert row.pk not in outbox_due_ids()  # a claim this young may be a live send
        traveller.move_to(MOMENT + stale_claim() + dt.timedelta(minutes=1), tick=False)
        assert row.pk in outbox_due_ids()
        assert notification_send(notification_id=row.pk) == "sent"

    row.refresh_from_db()
    assert row.status == "sent" and row.attempts == 2
    assert len(handler.received) == 2
    first, second = (email.message_from_bytes(raw, policy=email.policy.default) for raw in handler.received)
    assert first["Message-ID"] == second["Message-ID"] == channels.message_id(row)
    assert first["Subject"] == second["Subject"] == "A document expires soon"
    assert first["Auto-Submitted"] == second["Auto-Submitted"] == "auto-generated"

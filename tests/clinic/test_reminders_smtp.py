"""Delivery through a real SMTP server on localhost, with a real worker: refused, retried, sent once."""

from __future__ import annotations

import datetime as dt
import threading
import warnings

import pytest
from django.utils import timezone

from clinic.models import Notification
from tests.conftest import wait_for
from tests.treatments.factories import PatientFactory, SessionFactory

pytestmark = [pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    asyncore = pytest.importorskip("asyncore", reason="the stdlib SMTP server left Python in 3.12")
    smtpd = pytest.importorskip("smtpd", reason="the stdlib SMTP server left Python in 3.12")


class Server(smtpd.SMTPServer):
    """Accepts mail on 127.0.0.1; refuses the first ``refuse`` messages with a 451."""

    def __init__(self, refuse: int = 0):
        super().__init__(("127.0.0.1", 0), None, decode_data=True)
        self.refuse = refuse
        self.received: list[tuple[str, list[str], str]] = []
        self.refused = 0

    @property
    def port(self) -> int:
        return self.socket.getsockname()[1]

    def process_message(self, peer, mailfrom, rcpttos, data, **kwargs):
        if self.refused < self.refuse:
            self.refused += 1
            return "451 Try again later"
        self.received.append((mailfrom, rcpttos, data))
        return None


@pytest.fixture
def smtp_server(settings):
    server = Server(refuse=1)
    thread = threading.Thread(target=asyncore.loop, kwargs={"timeout": 0.1}, daemon=True)
    thread.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", server.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.QUIET_HOURS_END, settings.QUIET_HOURS_START = 0, 24
    yield server
    server.close()
    thread.join(timeout=2)


def test_a_refused_reminder_is_retried_then_arrives_once(worker, smtp_server, location):
    from clinic.tasks import outbox_sweep
    from treatments.tasks import appointment_reminders

    patient = PatientFactory(location=location, reminder_opt_in=True, reminder_channel="email")
    SessionFactory(patient=patient, starts_at=timezone.now() + dt.timedelta(hours=4))
    appointment_reminders.delay()
    assert wait_for(lambda: Notification.objects.filter(kind="reminder.appointment", attempts=1).exists())
    reminder = Notification.objects.get(kind="reminder.appointment")
    assert wait_for(lambda: Notification.objects.get(pk=reminder.pk).last_error != "")
    reminder.refresh_from_db()
    assert reminder.status == "pending" and "451" in reminder.last_error
    assert reminder.due_at > timezone.now()  # backoff: not before its time
    # Time passes (the backoff is due); the every-minute sweep picks it up, twice over.
    Notification.objects.filter(pk=reminder.pk).update(due_at=timezone.now())
    outbox_sweep.delay()
    outbox_sweep.delay()
    assert wait_for(lambda: Notification.objects.get(pk=reminder.pk).status == "sent")
    reminder.refresh_from_db()
    assert reminder.attempts == 2 and smtp_server.refused == 1
    assert wait_for(lambda: len(smtp_server.received) >= 1)
    [(_, to, data)] = smtp_server.received
    assert to == [patient.email] and location.name in data and "/clinic/reminders/stop/" in data

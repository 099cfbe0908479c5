"""The demo's mail backend (clinic.mailbox): mail kept in the site, read under Sent mail."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.core import mail
from django.core.mail import EmailMultiAlternatives
from django.urls import reverse
from django.utils import timezone
from django.utils.module_loading import import_string

from clinic import notifications
from clinic.audit import AuditAction
from clinic.mailbox import BACKEND
from clinic.models import AuditEvent, Notification, SentMail
from clinic.navigation import nav_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def mailbox(settings):
    settings.EMAIL_BACKEND = BACKEND


def _send(to="pat@example.com", subject="Your appointment", n=1):
    for i in range(n):
        message = EmailMultiAlternatives(
            subject=f"{subject} {i}" if n > 1 else subject,
            body="See you soon: http://testserver/clinic/alerts/\n",
            from_email="Clinic <clinic@localhost>",
            to=[to],
            headers={"Message-ID": f"<m{i}-{to}@clinic.test>", "Auto-Submitted": "auto-generated"},
        )
        message.attach_alternative(
            '<p>See you <a href="http://testserver/clinic/alerts/">soon</a></p>', "text/html"
        )
        message.send(fail_silently=False)


def test_the_backend_keeps_a_multipart_message_with_its_headers(mailbox):
    _send()
    kept = SentMail.objects.get()
    assert kept.recipients == ["pat@example.com"]
    assert kept.from_email == "Clinic <clinic@localhost>"
    assert kept.subject == "Your appointment"
    assert "http://testserver/clinic/alerts/" in kept.body
    assert '<a href="http://testserver/clinic/alerts/">' in kept.html_body
    assert kept.message_id == "<m0-pat@example.com@clinic.test>"
    assert kept.headers["Auto-Submitted"] == "auto-generated"
    assert kept.sent_at is not None


def test_a_notification_email_lands_there_and_the_row_is_sent(mailbox):
    notifications.notification_queue(
        kind=notifications.NotificationKind.REMINDER_APPOINTMENT,
        channel="email",
        subject="Reminder",
        body="Text http://testserver/x/",
        dedupe_key="mailbox:test",
        to_address="pat@example.com",
    )
    row = Notification.objects.get(dedupe_key="mailbox:test")
    assert notifications.notification_send(notification_id=row.pk) == "sent"
    assert SentMail.objects.get().message_id.startswith("<")


def test_password_reset_mail_lands_there_too(mailbox, client, manager):
    manager.email = "boss@example.com"
    manager.save()
    client.post(reverse("password_reset"), {"email": "boss@example.com"})
    assert SentMail.objects.filter(to__contains="boss@example.com").exists()


def test_pages_list_newest_first_filter_and_show_an_audited_mail(mailbox, client_for, manager):
    _send(to="a@example.com", subject="First")
    _send(to="b@example.com", subject="Second")
    client = client_for(manager)
    page = client.get(reverse("clinic:sent_mail_list"))
    assert page.status_code == 200
    assert [m.subject for m in page.context["page"]] == ["Second", "First"]
    filtered = client.get(reverse("clinic:sent_mail_list"), {"to": "a@ex"})
    assert [m.subject for m in filtered.context["page"]] == ["First"]
    first = SentMail.objects.get(subject="First")
    detail = client.get(reverse("clinic:sent_mail_detail", args=[first.pk]))
    assert detail.status_code == 200
    assert b'<a href="http://testserver/clinic/alerts/"' in detail.content, "the text's link is clickable"
    assert b"&lt;a href=" in detail.content, "the HTML part is shown escaped, never rendered"
    assert AuditEvent.objects.filter(action=AuditAction.SENT_MAIL_VIEW, object_id=str(first.pk)).exists()
    assert "no-store" in detail["Cache-Control"]


def test_pages_are_404_and_hidden_when_mail_is_really_sent(client_for, manager):
    assert django_settings.EMAIL_BACKEND != BACKEND
    client = client_for(manager)
    assert client.get(reverse("clinic:sent_mail_list")).status_code == 404
    assert client.get(reverse("clinic:sent_mail_detail", args=[1])).status_code == 404
    assert "Sent mail" not in [i["label"] for i in nav_for(manager, "/")]


def test_managers_see_it_in_the_navigation_only_while_mail_is_kept(
    mailbox, manager, front_desk, practitioner
):
    assert "Sent mail" in [i["label"] for i in nav_for(manager, "/")]
    for user in (front_desk, practitioner):
        assert "Sent mail" not in [i["label"] for i in nav_for(user, "/")]


def test_weaker_roles_get_403_and_anonymous_users_sign_in(
    mailbox, client, client_for, front_desk, practitioner
):
    _send()
    pk = SentMail.objects.get().pk
    urls = [reverse("clinic:sent_mail_list"), reverse("clinic:sent_mail_detail", args=[pk])]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 302 and "login" in response["Location"]
    for user in (front_desk, practitioner):
        for url in urls:
            assert client_for(user).get(url).status_code == 403


def test_the_list_costs_the_same_queries_for_one_mail_or_forty(
    mailbox, client_for, manager, django_assert_num_queries
):
    client = client_for(manager)
    _send(to="one@example.com")
    client.get(reverse("clinic:sent_mail_list"))  # warm the session and permission caches
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as one:
        client.get(reverse("clinic:sent_mail_list"))
    _send(to="many@example.com", n=40)
    with django_assert_num_queries(len(one)):
        client.get(reverse("clinic:sent_mail_list"))


def test_a_fresh_demo_sends_every_email_into_the_mailbox_and_fails_nothing(
    mailbox, monkeypatch, time_machine
):
    """What `make run` does: seed, then beat's sweeps and the outbox, for two days."""
    from django.core.management import call_command

    # No broker here: the worker's part is played by draining the outbox below.
    monkeypatch.setattr(notifications, "notification_enqueue", lambda pk: True)
    monkeypatch.setattr("clinic.notifications.outbox.notification_enqueue", lambda pk: True)
    time_machine.move_to(timezone.now(), tick=False)
    call_command("seed_demo", stdout=io.StringIO())
    tasks = sorted({entry["task"] for entry in django_settings.CELERY_BEAT_SCHEDULE.values()})
    start = timezone.now()
    for hour in range(0, 49):
        time_machine.move_to(start + timedelta(hours=hour), tick=False)
        for task in tasks:
            import_string(task)()
        for notification_id in notifications.outbox_due_ids(limit=10_000):
            notifications.notification_send(notification_id=notification_id)
    failed = Notification.objects.filter(status=Notification.Status.FAILED)
    assert not failed.exists(), list(failed.values_list("kind", "channel", "last_error"))
    assert not Notification.objects.filter(channel="email", last_error__contains="Refused").exists()
    sent_emails = Notification.objects.filter(channel="email", status=Notification.Status.SENT).count()
    assert sent_emails > 0
    assert SentMail.objects.count() == sent_emails
    assert SentMail.objects.filter(body__contains="http").exists(), "messages carry links to follow"
    assert len(mail.outbox) == 0

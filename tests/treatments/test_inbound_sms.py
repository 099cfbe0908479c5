"""Replies by text: the signed webhook, confirm / STOP / inbox, and the front desk's inbox."""

from __future__ import annotations

import datetime as dt
import time
from urllib.parse import urlencode

import pytest
import time_machine

from clinic.models import AuditEvent, Notification
from clinic.notifications import NotificationKind
from tests.treatments.factories import PatientFactory, SessionFactory, all_week_hours, at
from treatments import services
from treatments.models import InboundMessage
from treatments.reminders import appointment_key
from treatments.views.inbound import MAX_AGE_SECONDS, body_signature

pytestmark = pytest.mark.django_db

SECRET = "s3cret"
NOW = at(dt.date(2026, 3, 10), 10)
URL = "/treatments/sms/inbound/"


def signed(data, secret=SECRET, stamp: int | None = None) -> tuple[str, dict]:
    body = urlencode(data)
    stamp_text = str(int(time.time()) if stamp is None else stamp)
    return body, {
        "HTTP_X_CLINIC_TIMESTAMP": stamp_text,
        "HTTP_X_CLINIC_SIGNATURE": body_signature(body.encode(), secret, stamp_text),
    }


def post(client, data, secret=SECRET, stamp: int | None = None):
    body, headers = signed(data, secret, stamp)
    return client.post(URL, body, content_type="application/x-www-form-urlencoded", **headers)


@pytest.fixture(autouse=True)
def _secret(settings):
    settings.SMS_INBOUND_SECRET = SECRET


def reminded_session(patient):
    session = SessionFactory(patient=patient, starts_at=NOW + dt.timedelta(days=1))
    Notification.objects.create(
        kind=NotificationKind.REMINDER_APPOINTMENT,
        channel="sms",
        to_address=patient.phone,
        subject="",
        body="x",
        dedupe_key=appointment_key(session.pk, session.starts_at),
        status="sent",
    )
    return session


class TestWebhook:
    def test_no_secret_is_404(self, client, settings):
        settings.SMS_INBOUND_SECRET = ""
        assert post(client, {"from": "+447700900001", "body": "Y"}).status_code == 404

    def test_bad_signature_is_refused_and_stores_nothing(self, client):
        assert post(client, {"from": "+447700900001", "body": "hi"}, secret="wrong").status_code == 403
        assert InboundMessage.objects.count() == 0

    def test_get_is_405(self, client):
        assert client.get(URL).status_code == 405

    def test_a_request_without_its_timestamp_is_refused(self, client, location):
        patient = PatientFactory(location=location)
        body, headers = signed({"from": patient.phone, "body": "Running late"})
        headers.pop("HTTP_X_CLINIC_TIMESTAMP")
        response = client.post(URL, body, content_type="application/x-www-form-urlencoded", **headers)
        assert response.status_code == 403 and not InboundMessage.objects.exists()

    def test_an_old_signed_request_is_refused_as_stale(self, client, location):
        """A signed "STOP" captured from a log and sent again later turns nothing off."""
        patient = PatientFactory(location=location, reminder_opt_in=True)
        with time_machine.travel(NOW, tick=False):
            sent_at = int(time.time())
        with time_machine.travel(NOW + dt.timedelta(seconds=MAX_AGE_SECONDS + 1), tick=False):
            response = post(client, {"from": patient.phone, "body": "STOP"}, stamp=sent_at)
        assert response.status_code == 403 and b"Stale" in response.content
        patient.refresh_from_db()
        assert patient.reminder_opt_in is True

    def test_a_timestamp_far_ahead_is_refused(self, client, location):
        patient = PatientFactory(location=location)
        with time_machine.travel(NOW, tick=False):
            ahead = int(time.time()) + MAX_AGE_SECONDS + 1
            response = post(client, {"from": patient.phone, "body": "Running late"}, stamp=ahead)
        assert response.status_code == 403 and not InboundMessage.objects.exists()

    def test_the_same_signed_request_twice_is_acted_on_once(self, client, location):
        """A replay within the window (or a provider's retry) is answered, not acted on again:
        an old "C" would otherwise confirm whatever appointment the patient has next."""
        patient = PatientFactory(location=location)
        session = reminded_session(patient)
        with time_machine.travel(NOW, tick=False):
            body, headers = signed({"from": patient.phone, "body": "C"})
            first = client.post(URL, body, content_type="application/x-www-form-urlencoded", **headers)
            again = client.post(URL, body, content_type="application/x-www-form-urlencoded", **headers)
        assert first.content == b"confirmed" and again.status_code == 200
        assert again.content == b"already received"
        session.refresh_from_db()
        assert session.patient_response == "confirmed"
        assert AuditEvent.objects.filter(action="session.patient_confirm").count() == 1

    def test_the_same_text_sent_again_later_is_a_new_message(self, client, location):
        patient = PatientFactory(location=location)
        with time_machine.travel(NOW, tick=False):
            post(client, {"from": patient.phone, "body": "Running late"})
        with time_machine.travel(NOW + dt.timedelta(seconds=5), tick=False):
            post(client, {"from": patient.phone, "body": "Running late"})
        assert InboundMessage.objects.count() == 2

    def test_yes_confirms_the_next_reminded_session(self, client, location):
        patient = PatientFactory(location=location)
        session = reminded_session(patient)
        with time_machine.travel(NOW, tick=False):
            response = post(client, {"from": patient.phone, "body": " yes "})
        assert response.content == b"confirmed"
        session.refresh_from_db()
        assert session.patient_response == "confirmed"
        event = AuditEvent.objects.get(action="session.patient_confirm")
        assert event.actor_id is None and event.after["by"] == "patient via SMS"

    def test_a_reminder_for_the_time_it_was_moved_from_confirms_nothing(self, client, front_desk, location):
        patient = PatientFactory(location=location)
        session = reminded_session(patient)  # the text went out for tomorrow at 10:00
        all_week_hours(session.practitioner, location)
        with time_machine.travel(NOW, tick=False):
            services.session_reschedule(
                actor=front_desk, session=session, starts_at=session.starts_at + dt.timedelta(days=1)
            )
            response = post(client, {"from": patient.phone, "body": "C"})
        assert response.content == b"inbox"  # the desk reads it; no answer for a time not sent
        session.refresh_from_db()
        assert session.patient_response == ""
        assert not AuditEvent.objects.filter(action="session.patient_confirm").exists()

    def test_stop_opts_out(self, client, location):
        patient = PatientFactory(location=location, reminder_opt_in=True)
        with time_machine.travel(NOW, tick=False):
            assert post(client, {"from": patient.phone, "body": "STOP"}).content == b"opted-out"
        patient.refresh_from_db()
        assert patient.reminder_opt_in is False

    def test_anything_else_goes_to_the_inbox(self, client, location):
        patient = PatientFactory(location=location)
        with time_machine.travel(NOW, tick=False):
            assert post(client, {"from": patient.phone, "body": "Running late"}).content == b"inbox"
            assert post(client, {"from": "+447700900999", "body": "Y"}).content == b"inbox"
        known, unknown = InboundMessage.objects.order_by("pk")
        assert known.patient == patient and known.location == location
        assert unknown.patient is None
        assert AuditEvent.objects.filter(action="inbound_sms.received").count() == 2


class TestInbox:
    def test_front_desk_sees_own_location_and_marks_handled(
        self, client_for, front_desk, location, other_location
    ):
        mine = InboundMessage.objects.create(from_number="+447700900001", body="Mine here", location=location)
        InboundMessage.objects.create(from_number="+447700900002", body="Elsewhere", location=other_location)
        desk = client_for(front_desk)
        page = desk.get("/treatments/inbox/").content.decode()
        assert "Mine here" in page and "Elsewhere" not in page
        assert desk.post(f"/treatments/inbox/{mine.pk}/handled/").status_code == 302
        mine.refresh_from_db()
        assert mine.status == "handled" and mine.handled_by == front_desk
        assert AuditEvent.objects.filter(action="inbound_sms.handled").count() == 1

    def test_other_locations_message_cannot_be_handled(self, client_for, front_desk, other_location):
        theirs = InboundMessage.objects.create(from_number="+447700900002", body="x", location=other_location)
        assert client_for(front_desk).post(f"/treatments/inbox/{theirs.pk}/handled/").status_code == 404


# --- Rate limits (the webhook is public) ----------------------------------------------------------


class TestWebhookRateLimit:
    def test_refused_signatures_from_one_address_are_held_off(self, client):
        from treatments.views.inbound import BAD_SIGNATURE_RATE

        with time_machine.travel(NOW, tick=False):
            codes = [
                post(client, {"from": "+447700900001", "body": "hi"}, secret="wrong").status_code
                for _ in range(BAD_SIGNATURE_RATE.limit + 1)
            ]
            last = post(client, {"from": "+447700900001", "body": "hi"}, secret="wrong")
        assert codes[:-1] == [403] * BAD_SIGNATURE_RATE.limit and codes[-1] == 429
        assert last.status_code == 429 and int(last["Retry-After"]) >= 1
        assert not InboundMessage.objects.exists()

    def test_signed_texts_still_pass_from_an_address_with_refused_ones(self, client):
        from treatments.views.inbound import BAD_SIGNATURE_RATE

        with time_machine.travel(NOW, tick=False):
            for _ in range(BAD_SIGNATURE_RATE.limit + 1):
                post(client, {"from": "+447700900001", "body": "hi"}, secret="wrong")
            assert post(client, {"from": "+447700900002", "body": "Running late"}).status_code == 200
        assert InboundMessage.objects.count() == 1

    def test_one_number_cannot_flood_the_inbox_and_others_are_not_affected(self, client):
        from treatments.views.inbound import SENDER_RATE

        with time_machine.travel(NOW, tick=False):
            codes = [
                post(client, {"from": "+447700900003", "body": f"text {n}"}).status_code
                for n in range(SENDER_RATE.limit + 1)
            ]
            other = post(client, {"from": "+447700900004", "body": "Hello"})
        assert codes.count(200) == SENDER_RATE.limit and codes[-1] == 429
        assert other.status_code == 200
        assert InboundMessage.objects.filter(from_number="+447700900003").count() == SENDER_RATE.limit

    def test_the_limit_is_per_window(self, client):
        from treatments.views.inbound import SENDER_RATE

        with time_machine.travel(NOW, tick=False):
            for n in range(SENDER_RATE.limit + 1):
                post(client, {"from": "+447700900003", "body": f"text {n}"})
        with time_machine.travel(NOW + dt.timedelta(seconds=SENDER_RATE.seconds + 1), tick=False):
            assert post(client, {"from": "+447700900003", "body": "later"}).status_code == 200


# --- The inbox: a page at a time, sorted and filtered ----------------------------------------------


def texts(location, n: int, **kw):
    InboundMessage.objects.bulk_create(
        InboundMessage(
            from_number=f"+4477009{i:05d}",
            body=kw.get("body", f"Message {i:03d}"),
            location=location,
            status=kw.get("status", "new"),
            received_at=NOW - dt.timedelta(minutes=i),
        )
        for i in range(n)
    )


class TestInboxPages:
    def test_a_page_at_a_time_newest_first(self, client_for, front_desk, location):
        from clinic.tables import PAGE_SIZE

        texts(location, PAGE_SIZE + 3)
        desk = client_for(front_desk)
        first = desk.get("/treatments/inbox/").content.decode()
        second = desk.get("/treatments/inbox/?page=2").content.decode()
        assert first.count("Mark handled") == PAGE_SIZE and "Message 000" in first
        assert second.count("Mark handled") == 3 and f"Message {PAGE_SIZE + 2:03d}" in second
        assert "Page 1 of 2" in first and f"{PAGE_SIZE + 3} in all" in first

    def test_the_query_count_does_not_grow_with_the_texts(
        self, client_for, front_desk, location, django_assert_num_queries
    ):
        desk = client_for(front_desk)
        desk.get("/treatments/inbox/")  # session and permissions warmed up
        texts(location, 3)
        with django_assert_num_queries(7, info="three texts"):
            assert desk.get("/treatments/inbox/").status_code == 200
        InboundMessage.objects.all().delete()
        texts(location, 60)
        with django_assert_num_queries(7, info="sixty texts, three pages"):
            assert desk.get("/treatments/inbox/?page=2&sort=from").status_code == 200

    def test_sorted_by_a_column_and_filtered_by_number_or_text(self, client_for, front_desk, location):
        texts(location, 3)
        InboundMessage.objects.create(
            from_number="+447700911111", body="Can I come at four?", location=location, received_at=NOW
        )
        desk = client_for(front_desk)
        page = desk.get("/treatments/inbox/?sort=-from").content.decode()
        assert page.index("+447700911111") < page.index("+447700900002") < page.index("+447700900000")
        assert 'aria-sort="descending"' in page
        found = desk.get("/treatments/inbox/?q=four").content.decode()
        assert "Can I come at four?" in found and "Message 000" not in found
        by_number = desk.get("/treatments/inbox/?q=900001").content.decode()
        assert "Message 001" in by_number and "Message 002" not in by_number

    def test_new_only_unless_all_is_asked_for(self, client_for, front_desk, location):
        texts(location, 1, body="Old one", status="handled")
        desk = client_for(front_desk)
        assert "Old one" not in desk.get("/treatments/inbox/").content.decode()
        assert "Old one" in desk.get("/treatments/inbox/?show=all").content.decode()

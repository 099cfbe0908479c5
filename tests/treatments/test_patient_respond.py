"""The reminder link page: a form for the answer, a confirm step before cancelling, what the
page says once the desk has moved on, an answer that does not outlive a move, Retry-After."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from clinic.models import AuditEvent
from tests.treatments.factories import PatientFactory, SessionFactory, all_week_hours, at
from treatments import links, services
from treatments.models import Session, SessionStatus

pytestmark = pytest.mark.django_db

TODAY = dt.date(2026, 3, 10)
NOW = at(TODAY, 10)


@pytest.fixture
def booked(location):
    patient = PatientFactory(location=location, reminder_opt_in=True, reminder_channel="email")
    return SessionFactory(patient=patient, starts_at=at(TODAY + dt.timedelta(days=3), 10))


def url(session):
    return f"/treatments/r/{links.respond_token(session.pk)}/"


def answer_events():
    return AuditEvent.objects.filter(action__startswith="session.patient_").count()


class TestTheNoteIsValidated:
    """Runs on SQLite and on PostgreSQL (where a NUL byte cannot be stored at all)."""

    @pytest.mark.parametrize(
        ("note", "message"),
        [
            ("a\x00b", "holds a character that cannot be saved"),
            ("x" * 201, "keep the note to 200 characters or fewer"),
        ],
    )
    def test_a_bad_note_is_refused_on_the_page_and_changes_nothing(self, client, booked, note, message):
        with time_machine.travel(NOW, tick=False):
            response = client.post(url(booked), {"answer": "reschedule", "note": note})
        assert response.status_code == 400
        assert message in response.content.decode()
        booked.refresh_from_db()
        assert booked.patient_response == "" and booked.patient_note == ""
        assert answer_events() == 0

    def test_a_note_of_the_full_length_is_kept(self, client, booked):
        with time_machine.travel(NOW, tick=False):
            response = client.post(url(booked), {"answer": "reschedule", "note": "y" * 200})
        assert response.status_code == 200
        booked.refresh_from_db()
        assert booked.patient_note == "y" * 200

    def test_an_unknown_answer_is_refused(self, client, booked):
        with time_machine.travel(NOW, tick=False):
            response = client.post(url(booked), {"answer": "delete"})
        assert response.status_code == 400 and "Unknown answer." in response.content.decode()
        assert Session.objects.get(pk=booked.pk).patient_response == ""


class TestCancelAsksFirst:
    def test_the_first_press_asks_and_changes_nothing(self, client, booked):
        with time_machine.travel(NOW, tick=False):
            response = client.post(url(booked), {"answer": "cancelled"})
        body = response.content.decode()
        assert response.status_code == 200
        heading = "Cancel your appointment on Friday 13 March at 10:00?"
        assert f'<h2 class="h5" id="confirm-cancel-heading">{heading}</h2>' in body
        assert ">Yes, cancel it</button>" in body and ">Keep it</button>" in body
        assert 'name="confirm" value="1"' in body
        assert ">Cancel appointment</button>" not in body  # only the question is asked
        booked.refresh_from_db()
        assert booked.status == SessionStatus.BOOKED and booked.patient_response == ""
        assert not AuditEvent.objects.filter(action="session.cancel").exists()

    def test_yes_cancels(self, client, booked):
        with time_machine.travel(NOW, tick=False):
            client.post(url(booked), {"answer": "cancelled"})
            response = client.post(url(booked), {"answer": "cancelled", "confirm": "1"})
        assert response.status_code == 200
        booked.refresh_from_db()
        assert booked.status == SessionStatus.CANCELLED and booked.patient_response == "cancelled"
        assert "This appointment was cancelled." in response.content.decode()

    def test_keep_it_is_a_get_of_the_same_page(self, client, booked):
        with time_machine.travel(NOW, tick=False):
            body = client.post(url(booked), {"answer": "cancelled"}).content.decode()
            assert '<form method="get">' in body
            again = client.get(url(booked)).content.decode()
        assert ">Cancel appointment</button>" in again
        assert Session.objects.get(pk=booked.pk).status == SessionStatus.BOOKED


class TestAfterTheDeskActed:
    @pytest.mark.parametrize(
        ("status", "sentence"),
        [
            (SessionStatus.CANCELLED, "This appointment was cancelled."),
            (SessionStatus.COMPLETED, "This appointment has taken place."),
            (SessionStatus.NO_SHOW, "This appointment was missed."),
            (SessionStatus.ARRIVED, "You have checked in for this appointment."),
            (SessionStatus.IN_TREATMENT, "This appointment is in progress."),
        ],
    )
    def test_the_page_says_what_happened_with_the_clinics_number_and_no_buttons(
        self, client, front_desk, booked, status, sentence
    ):
        with time_machine.travel(NOW, tick=False):
            client.post(url(booked), {"answer": "confirmed"})
            if status == SessionStatus.CANCELLED:
                services.session_cancel(actor=front_desk, session=booked, reason="Practitioner unwell")
            else:
                Session.objects.filter(pk=booked.pk).update(status=status)
            response = client.get(url(booked))
        body = response.content.decode()
        assert response.status_code == 200
        assert sentence in body
        assert "your appointment is on" not in body
        assert "020 7946 0000" in body and 'href="tel:+442079460000"' in body
        assert 'name="answer"' not in body and "<button" not in body.split('id="appointment-status"')[1]
        assert "Your answer" not in body  # "Confirmed" no longer stands for what happened

    def test_a_patients_own_cancel_still_shows_as_their_answer(self, client, booked):
        with time_machine.travel(NOW, tick=False):
            client.post(url(booked), {"answer": "cancelled", "confirm": "1"})
            body = client.get(url(booked)).content.decode()
        assert "This appointment was cancelled." in body
        assert "Your answer: <strong>Cancelled by patient</strong>" in body


class TestAMoveClearsTheAnswer:
    @pytest.fixture
    def answered(self, client, booked, location):
        all_week_hours(booked.practitioner, location)
        with time_machine.travel(NOW, tick=False):
            client.post(url(booked), {"answer": "reschedule", "note": "Afternoons please"})
        booked.refresh_from_db()
        assert booked.patient_response == "reschedule"
        return booked

    def test_a_new_time_clears_the_answer_in_the_audited_reschedule(
        self, client, client_for, front_desk, answered
    ):
        new_start = at(TODAY + dt.timedelta(days=4), 14)
        with time_machine.travel(NOW, tick=False):
            services.session_reschedule(actor=front_desk, session=answered, starts_at=new_start)
            page = client.get(url(answered)).content.decode()
            day = (
                client_for(front_desk).get(f"/treatments/calendar/?date={new_start.date()}").content.decode()
            )
        answered.refresh_from_db()
        assert (answered.patient_response, answered.patient_response_at, answered.patient_note) == (
            "",
            None,
            "",
        )
        event = AuditEvent.objects.get(action="session.reschedule")
        assert event.before["patient_response"] == "reschedule"
        assert event.before["patient_note"] == "Afternoons please"
        assert event.before["patient_response_at"] is not None
        assert event.after["patient_response"] == "" and event.after["patient_response_at"] is None
        assert "Your answer" not in page and "Saturday 14 March 2026 at 14:00" in page
        assert "Wants another time" not in day

    def test_a_new_practitioner_clears_it_too(self, front_desk, practitioner, location, answered):
        all_week_hours(practitioner, location)
        with time_machine.travel(NOW, tick=False):
            services.session_reschedule(
                actor=front_desk, session=answered, starts_at=answered.starts_at, practitioner=practitioner
            )
        answered.refresh_from_db()
        assert answered.patient_response == ""

    def test_a_new_room_keeps_it(self, front_desk, room, answered):
        with time_machine.travel(NOW, tick=False):
            services.session_reschedule(
                actor=front_desk, session=answered, starts_at=answered.starts_at, room=room
            )
        answered.refresh_from_db()
        assert answered.patient_response == "reschedule" and answered.patient_note == "Afternoons please"


class TestRetryAfter:
    def test_the_429_says_when_to_try_again(self, client, booked):
        # The window is an hour from 10:00; at 10:25 it frees in 35 minutes.
        with time_machine.travel(NOW + dt.timedelta(minutes=25), tick=False):
            responses = [client.get(url(booked)) for _ in range(31)]
        assert "Retry-After" not in responses[0]
        assert responses[-1].status_code == 429
        assert responses[-1]["Retry-After"] == "2100"

"""Maintenance booking by the patient: the link in the reminder, the slot rules, the booking
through the front desk's service, the page (no login) and what the desk sees."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import time_machine
from django.contrib.auth.models import Group
from django.core import mail, signing
from django.core.exceptions import ValidationError
from django.utils import timezone

from clinic.models import AuditEvent, Notification
from clinic.notifications import NotificationKind, outbox
from clinic.roles import FRONT_DESK, ROLES
from tests.clinic.test_channels import FakeSms
from tests.treatments.booking_setup import book_path, due_plan, weekday_hours
from tests.treatments.factories import PatientFactory, PlanFactory, SessionFactory, at
from treatments import links
from treatments.models import Session, SessionStatus, TreatmentPlan, WorkingHours
from treatments.reminders import maintenance_reminders_sweep
from treatments.services.patient_booking import (
    TAKEN,
    booking_window,
    free_slots,
    local_time_label,
    maintenance_offer,
    plan_patient_book,
)
from treatments.services.plans import plan_stop
from treatments.services.sessions import within_working_hours

pytestmark = pytest.mark.django_db

TODAY = dt.date(2026, 3, 9)  # a Monday
DUE = dt.date(2026, 3, 16)  # the Monday after
NOW = at(TODAY, 10)
HOUR = dt.timedelta(hours=1)


@pytest.fixture(autouse=True)
def _frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def plan(location, practitioner):
    weekday_hours(practitioner, location)
    return due_plan(location, practitioner, DUE, first_name="Jane", last_name="Doe")


def link_for(plan):
    return links.BookLink(plan.pk, plan.patient_id, plan.next_due_on)


# --- The slot rules (pure) -------------------------------------------------------------------


def slots(**kwargs):
    base = {
        "hours": [(0, dt.time(9), dt.time(17))],
        "busy": [],
        "first_day": DUE,
        "last_day": DUE,
        "duration": HOUR,
        "earliest": NOW,
    }
    return [f"{timezone.localtime(s):%H:%M}" for s in free_slots(**(base | kwargs))]


class TestSlotRules:
    def test_quarter_hours_inside_the_hours_and_the_session_ends_by_closing(self):
        offered = slots()
        assert offered[0] == "09:00" and offered[-1] == "16:00" and len(offered) == 29

    def test_existing_sessions_are_not_overlapped(self):
        offered = slots(busy=[(at(DUE, 12), at(DUE, 13))])
        assert "11:00" in offered and "13:00" in offered
        assert not {"11:15", "11:45", "12:00", "12:45"} & set(offered)

    def test_never_in_the_past(self):
        assert slots(first_day=TODAY, last_day=TODAY, earliest=at(TODAY, 14)) == [
            "14:00",
            "14:15",
            "14:30",
            "14:45",
            "15:00",
            "15:15",
            "15:30",
            "15:45",
            "16:00",
        ]

    def test_no_hours_that_day_no_slots(self):
        assert slots(first_day=DUE + dt.timedelta(days=5), last_day=DUE + dt.timedelta(days=6)) == []

    def test_two_intervals_a_day(self):
        offered = slots(hours=[(0, dt.time(9), dt.time(11)), (0, dt.time(14), dt.time(16))])
        assert offered == [
            "09:00",
            "09:15",
            "09:30",
            "09:45",
            "10:00",
            "14:00",
            "14:15",
            "14:30",
            "14:45",
            "15:00",
        ]

    def test_the_hour_skipped_when_the_clocks_go_forward_is_never_offered(self):
        day = dt.date(2026, 3, 29)  # Europe/London: 01:00 → 02:00
        offered = slots(
            hours=[(day.weekday(), dt.time(0), dt.time(3))],
            first_day=day,
            last_day=day,
            duration=dt.timedelta(minutes=30),
            earliest=at(TODAY, 0),
        )
        assert not any(t.startswith("01:") for t in offered)
        assert "00:00" in offered and "02:00" in offered

    def test_the_window_runs_a_week_before_to_two_weeks_after_never_before_today(self):
        assert booking_window(DUE, TODAY) == (TODAY, DUE + dt.timedelta(days=14))
        assert booking_window(DUE, DUE - dt.timedelta(days=20)) == (
            DUE - dt.timedelta(days=7),
            DUE + dt.timedelta(days=14),
        )
        late = DUE + dt.timedelta(days=12)
        assert booking_window(DUE, late) == (late, late + dt.timedelta(days=7))


class TestOffer:
    def test_the_patients_practitioner_duration_and_location(self, plan, practitioner, location):
        offer = maintenance_offer(plan=plan, due_on=DUE)
        assert offer.practitioner == practitioner and offer.location == location
        assert offer.duration_minutes == 60
        assert offer.first_day == TODAY and offer.last_day == DUE + dt.timedelta(days=14)
        assert offer.slots[0] == at(TODAY, 12)  # two hours' notice
        assert all(s.weekday() < 5 for s in offer.slots)

    def test_every_slot_passes_the_front_desk_rules(self, plan, practitioner, location):
        SessionFactory(practitioner=practitioner, patient__location=location, starts_at=at(DUE, 10))
        offer = maintenance_offer(plan=plan, due_on=DUE)
        assert offer.slots
        for slot in offer.slots:
            end = slot + HOUR
            assert within_working_hours(practitioner=practitioner, location=location, start=slot, end=end)
        busy = Session.objects.overlapping(at(DUE, 0), at(DUE, 23)).filter(practitioner=practitioner)
        for slot in offer.slots:
            assert not busy.filter(starts_at__lt=slot + HOUR, ends_at__gt=slot).exists()

    def test_the_patients_own_other_sessions_are_avoided(self, plan, location, other_location):
        nurse_session = SessionFactory(patient=plan.patient, starts_at=at(DUE, 14))
        offer = maintenance_offer(plan=plan, due_on=DUE)
        assert at(DUE, 14) not in offer.slots and at(DUE, 13, 15) not in offer.slots
        assert at(DUE, 13) in offer.slots and at(DUE, 14, 45) in offer.slots
        assert nurse_session.practitioner != offer.practitioner

    def test_no_earlier_session_no_practitioner_no_slots(self, location):
        plan = PlanFactory(patient=PatientFactory(location=location))
        offer = maintenance_offer(plan=plan, due_on=DUE)
        assert offer.practitioner is None and offer.slots == []

    @pytest.mark.parametrize("sessions", [1, 15])
    def test_queries_do_not_grow_with_the_calendar(
        self, plan, practitioner, location, sessions, django_assert_num_queries
    ):
        for i in range(sessions):
            SessionFactory(
                practitioner=practitioner,
                patient__location=location,
                starts_at=at(DUE + dt.timedelta(days=i % 10), 9 + i % 7),
            )
        plan = TreatmentPlan.objects.select_related("patient__location").get(pk=plan.pk)  # as the view has it
        with django_assert_num_queries(6):
            maintenance_offer(plan=plan, due_on=DUE)


def left_the_location(practitioner, location):
    practitioner.staff_profile.locations.remove(location)


def moved_to_front_desk(practitioner, location):
    practitioner.groups.set([Group.objects.get(name=ROLES[FRONT_DESK].group)])


def left_the_clinic(practitioner, location):
    practitioner.is_active = False
    practitioner.save()


NOT_BOOKABLE = [left_the_location, moved_to_front_desk, left_the_clinic]


class TestPractitionerNoLongerBookable:
    """The desk's booking refuses a practitioner who left the location or no longer performs
    sessions; the page must not offer their times (every pick would fail) nor show the desk's
    refusal, which names them in full."""

    @pytest.mark.parametrize("change", NOT_BOOKABLE)
    def test_no_practitioner_no_slots(self, plan, practitioner, location, change):
        change(practitioner, location)
        offer = maintenance_offer(plan=TreatmentPlan.objects.get(pk=plan.pk), due_on=DUE)
        assert offer.practitioner is None and offer.slots == []

    @pytest.mark.parametrize("change", NOT_BOOKABLE)
    def test_the_page_says_call_the_clinic(self, client, plan, practitioner, location, change):
        change(practitioner, location)
        body = client.get(book_path(plan)).content.decode()
        assert 'id="no-slots"' in body and "020 7946 0000" in body
        assert 'name="slot"' not in body and "Priya" not in body and "Shah" not in body

    @pytest.mark.parametrize("change", NOT_BOOKABLE)
    def test_a_post_is_told_to_call_never_the_desks_refusal(
        self, client, plan, practitioner, location, change
    ):
        change(practitioner, location)
        response = client.post(book_path(plan), {"slot": at(DUE, 11).isoformat()})
        body = response.content.decode()
        assert response.status_code == 400
        assert "Please call the clinic on 020 7946 0000 to book." in body and "Shah" not in body
        assert not Session.objects.filter(plan=plan, status=SessionStatus.BOOKED).exists()

    def test_any_other_refusal_of_the_desks_service_becomes_call_the_clinic(
        self, plan, practitioner, location, monkeypatch
    ):
        from treatments.services import patient_booking

        def refuses(**kwargs):
            raise ValidationError(
                "10:00–11:00 is outside Priya Shah's working hours.", code="outside_hours_confirm"
            )

        monkeypatch.setattr(patient_booking, "session_book", refuses)
        with pytest.raises(ValidationError) as refused:
            plan_patient_book(link=link_for(plan), starts_at=at(DUE, 11))
        assert refused.value.messages == ["Please call the clinic on 020 7946 0000 to book."]
        assert refused.value.code == "call_clinic"


# --- The nights the clocks change (Europe/London) ------------------------------------------------

FALL = dt.date(2026, 10, 25)  # a Sunday: 02:00 BST → 01:00 GMT, so 01:00–01:59 happens twice
SPRING = dt.date(2026, 3, 29)  # a Sunday: 01:00 GMT → 02:00 BST, so 01:00–01:59 never happens
QUARTER = dt.timedelta(minutes=15)


def utc(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=dt.UTC)


def night_slots(day, **kwargs):
    base = {
        "hours": [(day.weekday(), dt.time(0), dt.time(4))],
        "busy": [],
        "first_day": day,
        "last_day": day,
        "duration": dt.timedelta(minutes=30),
        "earliest": utc(day - dt.timedelta(days=7), 0),
    }
    return free_slots(**(base | kwargs))


def night_plan(location, practitioner, day):
    """A plan due on ``day`` whose practitioner works 00:00–04:00 that weekday (60 minutes)."""
    WorkingHours.objects.create(
        practitioner=practitioner,
        location=location,
        weekday=day.weekday(),
        start_time=dt.time(0),
        end_time=dt.time(4),
    )
    return due_plan(location, practitioner, day, first_name="Jane", last_name="Doe")


class TestClockChanges:
    def test_going_back_both_one_oclock_hours_are_offered_as_instants(self):
        offered = night_slots(FALL)
        # 00:00 BST (23:00 UTC the day before) to a 03:30 GMT start, every quarter hour of real time.
        start = utc(FALL - dt.timedelta(days=1), 23)
        assert offered == [start + k * QUARTER for k in range(19)]
        labels = [local_time_label(s) for s in offered]
        assert labels[:5] == ["00:00", "00:15", "00:30", "00:45", "01:00 BST"]
        assert "01:45 BST" in labels and "01:00 GMT" in labels and "01:45 GMT" in labels
        assert "02:00" in labels and labels[-1] == "03:30"

    def test_going_back_a_session_lasts_its_real_duration(self):
        # Busy 01:30–02:00 GMT. A 60-minute session at 01:30 BST ends at 01:30 GMT (real time),
        # so it fits; one at 01:45 BST would end at 01:45 GMT, inside the booking.
        offered = night_slots(FALL, busy=[(utc(FALL, 1, 30), utc(FALL, 2))], duration=HOUR)
        assert utc(FALL, 0, 30) in offered  # 01:30 BST
        assert utc(FALL, 0, 45) not in offered  # 01:45 BST
        assert utc(FALL, 1, 15) not in offered and utc(FALL, 2) in offered  # 01:15 and 02:00 GMT

    def test_going_forward_the_missing_hour_is_skipped_and_ends_are_real(self):
        offered = night_slots(SPRING)
        # 00:00–00:45 GMT, then 02:00 BST (01:00 UTC) to a 03:30 BST start: one run of real time.
        assert offered == [utc(SPRING, 0) + k * QUARTER for k in range(11)]
        labels = [local_time_label(s) for s in offered]
        assert not any(label.startswith("01:") for label in labels)
        assert labels[3:5] == ["00:45", "02:00"]

    def test_the_page_offers_both_one_oclocks_and_books_each(self, client, location, practitioner):
        plan = night_plan(location, practitioner, FALL)
        with time_machine.travel(at(FALL - dt.timedelta(days=5), 10), tick=False):
            body = client.get(book_path(plan)).content.decode()
            assert 'value="2026-10-25T01:00:00+01:00"' in body and 'value="2026-10-25T01:00:00+00:00"' in body
            assert ">01:00 BST</label>" in body and ">01:00 GMT</label>" in body
            assert ">02:00</label>" in body
            response = client.post(book_path(plan), {"slot": "2026-10-25T01:00:00+01:00"})
            assert response.status_code == 302
            booked = client.get(response["Location"]).content.decode()
        session = Session.objects.get(plan=plan, status=SessionStatus.BOOKED)
        assert session.starts_at == utc(FALL, 0) and session.ends_at == utc(FALL, 1)
        assert "Sunday 25 October 2026 at 01:00 BST" in booked
        [note] = Notification.objects.filter(kind=NotificationKind.BOOKING_CONFIRMATION)
        assert "Sunday 25 October 2026 at 01:00 BST" in note.body and "at 01:00 BST" in note.subject

    @pytest.mark.parametrize(
        "posted, begins",
        [
            ("2026-10-25T01:30:00+00:00", utc(FALL, 1, 30)),
            ("2026-10-25T01:30:00+01:00", utc(FALL, 0, 30)),
            ("2026-10-25T00:30:00+00:00", utc(FALL, 0, 30)),  # the same instant, spelt in UTC
        ],
    )
    def test_going_back_a_posted_time_books_the_instant_it_names(
        self, client, location, practitioner, posted, begins
    ):
        plan = night_plan(location, practitioner, FALL)
        with time_machine.travel(at(FALL - dt.timedelta(days=5), 10), tick=False):
            assert client.post(book_path(plan), {"slot": posted}).status_code == 302
        session = Session.objects.get(plan=plan, status=SessionStatus.BOOKED)
        assert session.starts_at == begins and session.ends_at == begins + HOUR

    def test_going_back_a_zone_aware_second_one_oclock_is_booked(self, location, practitioner):
        plan = night_plan(location, practitioner, FALL)
        second = at(FALL, 1, 30).replace(fold=1)  # 01:30 GMT as Python's zoneinfo spells it
        with time_machine.travel(at(FALL - dt.timedelta(days=5), 10), tick=False):
            session = plan_patient_book(link=link_for(plan), starts_at=second)
        session.refresh_from_db()
        assert session.starts_at == utc(FALL, 1, 30) and session.ends_at == utc(FALL, 2, 30)

    def test_going_forward_the_page_books_round_the_missing_hour(self, client, location, practitioner):
        plan = night_plan(location, practitioner, SPRING)
        body = client.get(book_path(plan)).content.decode()
        assert 'value="2026-03-29T00:45:00+00:00"' in body and 'value="2026-03-29T02:00:00+01:00"' in body
        assert 'value="2026-03-29T01:' not in body and 'value="2026-03-22T01:00:00+00:00"' in body
        response = client.post(book_path(plan), {"slot": "2026-03-29T00:45:00+00:00"})
        assert response.status_code == 302
        session = Session.objects.get(plan=plan, status=SessionStatus.BOOKED)
        assert session.starts_at == utc(SPRING, 0, 45) and session.ends_at == utc(SPRING, 1, 45)


# --- The booking ------------------------------------------------------------------------------


class TestBook:
    def test_books_through_the_desk_service_audited_and_confirmed(self, plan, practitioner):
        session = plan_patient_book(link=link_for(plan), starts_at=at(DUE, 11))
        session.refresh_from_db()
        assert session.status == SessionStatus.BOOKED and session.booked_by_patient
        assert session.practitioner == practitioner and session.duration_minutes == 60
        assert session.plan_id == plan.pk and session.booked_by is None
        assert AuditEvent.objects.get(action="session.book").actor_id is None
        event = AuditEvent.objects.get(action="session.patient_book")
        assert event.actor_id is None and event.after["by"] == "patient via link"
        [note] = Notification.objects.filter(kind=NotificationKind.BOOKING_CONFIRMATION)
        assert note.to_address == plan.patient.email and note.channel == "email"
        assert "Monday 16 March 2026 at 11:00" in note.body and "Doe" not in note.body

    def test_the_plan_moves_on_as_when_the_desk_books(self, plan):
        maintenance_reminders_sweep(now=NOW)
        reminder = Notification.objects.get(kind=NotificationKind.REMINDER_MAINTENANCE)
        assert TreatmentPlan.objects.due(DUE).filter(pk=plan.pk).exists()
        plan_patient_book(link=link_for(plan), starts_at=at(DUE, 11))
        assert not TreatmentPlan.objects.due(DUE).filter(pk=plan.pk).exists()
        reminder.refresh_from_db()
        assert reminder.status == Notification.Status.CANCELLED

    def test_a_taken_slot_is_refused_with_pick_another(self, plan, practitioner, location):
        SessionFactory(practitioner=practitioner, patient__location=location, starts_at=at(DUE, 11))
        with pytest.raises(ValidationError) as refused:
            plan_patient_book(link=link_for(plan), starts_at=at(DUE, 11, 30))
        assert refused.value.code == "slot_taken" and refused.value.messages == [TAKEN]
        assert not Session.objects.filter(plan=plan, status=SessionStatus.BOOKED).exists()

    @pytest.mark.parametrize("when", [at(DUE, 8), at(DUE, 16, 30), at(DUE, 11, 7), at(TODAY, 10, 30)])
    def test_a_time_not_offered_is_refused(self, plan, when):
        with pytest.raises(ValidationError) as refused:
            plan_patient_book(link=link_for(plan), starts_at=when)
        assert refused.value.code == "not_offered"

    def test_a_used_link_books_nothing_more(self, plan):
        plan_patient_book(link=link_for(plan), starts_at=at(DUE, 11))
        with pytest.raises(ValidationError) as refused:
            plan_patient_book(link=link_for(plan), starts_at=at(DUE, 14))
        assert refused.value.code == "used"
        assert Session.objects.filter(plan=plan, status=SessionStatus.BOOKED).count() == 1

    def test_a_stopped_plan_or_another_due_date_is_gone(self, plan, manager):
        moved = links.BookLink(plan.pk, plan.patient_id, DUE - dt.timedelta(days=1))
        with pytest.raises(ValidationError) as refused:
            plan_patient_book(link=moved, starts_at=at(DUE, 11))
        assert refused.value.code == "gone"
        plan_stop(actor=manager, plan=plan)
        with pytest.raises(ValidationError):
            plan_patient_book(link=link_for(plan), starts_at=at(DUE, 11))

    def test_the_link_is_bound_to_the_patient(self, plan, location):
        other = PatientFactory(location=location)
        with pytest.raises(ValidationError) as refused:
            plan_patient_book(link=links.BookLink(plan.pk, other.pk, DUE), starts_at=at(DUE, 11))
        assert refused.value.code == "gone"


# --- The reminder carries the link ---------------------------------------------------------


class TestReminderLink:
    def test_email_and_sms_get_a_working_link_at_send_time(self, plan, settings):
        settings.QUIET_HOURS_END, settings.QUIET_HOURS_START = 0, 24
        sms_patient = due_plan(plan.patient.location, plan.sessions.first().practitioner, DUE)
        sms_patient.patient.reminder_channel = "sms"
        sms_patient.patient.save()
        maintenance_reminders_sweep(now=NOW)
        rows = Notification.objects.filter(kind=NotificationKind.REMINDER_MAINTENANCE)
        assert all(links.BOOK_PLACEHOLDER in r.body for r in rows)  # the sweep signed nothing
        email_row = rows.get(channel="email")
        assert outbox.notification_send(notification_id=email_row.pk) == "sent"
        [message] = mail.outbox
        assert links.BOOK_PLACEHOLDER not in message.body
        assert links.BOOK_PLACEHOLDER not in message.alternatives[0][0]
        token = re.search(r"/treatments/b/([^/\s]+)/", message.body).group(1)
        assert links.booking_from_token(token) == link_for(plan)
        settings.SMS_BACKEND = "tests.clinic.test_channels.FakeSms"
        FakeSms.sent = []
        assert outbox.notification_send(notification_id=rows.get(channel="sms").pk) == "sent"
        [sms] = FakeSms.sent
        token = re.search(r"/treatments/b/([^/\s]+)/", sms["body"]).group(1)
        assert links.booking_from_token(token).plan_id == sms_patient.pk


# --- The page --------------------------------------------------------------------------------


class TestPage:
    def test_get_lists_slots_without_clinical_detail_and_changes_nothing(
        self, client, plan, django_assert_num_queries
    ):
        with django_assert_num_queries(8):
            response = client.get(book_path(plan))
        body = response.content.decode()
        assert response.status_code == 200
        assert "Hello Jane" in body and "Doe" not in body
        assert "Marylebone" in body and "Priya" in body and "Shah" not in body
        assert "Monday 16 March" in body and 'value="2026-03-16T11:00:00+00:00"' in body
        assert "skin" not in body.lower()
        assert not Session.objects.filter(plan=plan, status=SessionStatus.BOOKED).exists()

    @pytest.mark.parametrize("booked_elsewhere", [0, 10])
    def test_query_count_does_not_grow(
        self, client, plan, practitioner, location, booked_elsewhere, django_assert_num_queries
    ):
        for i in range(booked_elsewhere):
            SessionFactory(
                practitioner=practitioner, patient__location=location, starts_at=at(DUE, 9 + i % 8)
            )
        with django_assert_num_queries(8):
            assert client.get(book_path(plan)).status_code == 200

    def test_post_books_and_the_link_then_shows_the_booking(self, client, plan):
        response = client.post(book_path(plan), {"slot": at(DUE, 11).isoformat()})
        assert response.status_code == 302
        page = client.get(response["Location"]).content.decode()
        assert "You are booked" in page and "Monday 16 March 2026 at 11:00" in page
        assert Session.objects.get(plan=plan, status=SessionStatus.BOOKED).booked_by_patient

    def test_post_a_taken_slot_says_pick_another(self, client, plan, practitioner, location):
        page = client.get(book_path(plan))
        assert page.status_code == 200
        SessionFactory(practitioner=practitioner, patient__location=location, starts_at=at(DUE, 11))
        response = client.post(book_path(plan), {"slot": at(DUE, 11).isoformat()})
        assert response.status_code == 409
        body = response.content.decode()
        assert "That time has just been taken" in body
        assert 'value="2026-03-16T11:00:00+00:00"' not in body and "12:00" in body

    def _won_first(self, monkeypatch, before):
        """The page's "already booked?" check has passed; ``before`` happens (another submit
        wins) just before this submit's booking takes its lock, as in a race."""
        from treatments.views import book

        real = book.plan_patient_book

        def racing(**kwargs):
            before()
            return real(**kwargs)

        monkeypatch.setattr(book, "plan_patient_book", racing)

    @pytest.mark.parametrize("first", [at(DUE, 11), at(DUE, 14)])
    def test_a_double_tap_shows_the_booking_that_won(self, client, plan, monkeypatch, first):
        self._won_first(monkeypatch, lambda: plan_patient_book(link=link_for(plan), starts_at=first))
        response = client.post(book_path(plan), {"slot": at(DUE, 11).isoformat()})
        assert response.status_code == 302 and response["Location"] == book_path(plan)
        page = client.get(response["Location"]).content.decode()
        assert "You are booked" in page and f"Monday 16 March 2026 at {first:%H:%M}" in page
        assert "already booked" not in page
        assert Session.objects.filter(plan=plan, status=SessionStatus.BOOKED).count() == 1

    def test_booked_by_the_desk_meanwhile_shows_that_booking(
        self, client, plan, practitioner, front_desk, monkeypatch
    ):
        from treatments.services import session_book

        def desk_books():
            session_book(
                actor=front_desk,
                patient=plan.patient,
                practitioner=practitioner,
                location=plan.patient.location,
                starts_at=at(DUE, 15),
                duration_minutes=60,
                treatment_type=plan.treatment_type,
                plan=plan,
            )

        self._won_first(monkeypatch, desk_books)
        response = client.post(book_path(plan), {"slot": at(DUE, 11).isoformat()})
        assert response.status_code == 302
        assert "Monday 16 March 2026 at 15:00" in client.get(response["Location"]).content.decode()

    def test_stopped_meanwhile_is_the_expired_page(self, client, plan, manager, monkeypatch):
        self._won_first(monkeypatch, lambda: plan_stop(actor=manager, plan=plan))
        response = client.post(book_path(plan), {"slot": at(DUE, 11).isoformat()})
        assert response.status_code == 410 and "This link has expired" in response.content.decode()
        assert not Session.objects.filter(plan=plan, status=SessionStatus.BOOKED).exists()

    @pytest.mark.parametrize("slot", ["", "tomorrow", "2026-03-16T11:00:00", "x" * 10_000])
    def test_post_nonsense_is_400(self, client, plan, slot):
        assert client.post(book_path(plan), {"slot": slot}).status_code == 400

    def test_tampered_link_is_refused_with_the_respond_page(self, client, plan):
        path = book_path(plan)
        response = client.get(path[:-4] + "xx/")
        assert response.status_code == 400 and "This link is not valid" in response.content.decode()

    def test_a_respond_token_does_not_open_the_booking_page(self, client, plan):
        token = links.respond_token(plan.pk)
        assert client.get(f"/treatments/b/{token}/").status_code == 400
        assert (
            client.get(f"/treatments/b/{signing.dumps([plan.pk, 1, 'x'], salt=links.BOOK_SALT)}/").status_code
            == 400
        )

    def test_old_link_is_410_with_the_respond_page(self, client, plan, settings):
        settings.PATIENT_LINK_MAX_DAYS = 1
        with time_machine.travel(NOW - dt.timedelta(days=2), tick=False):
            path = book_path(plan)
        response = client.post(path, {"slot": at(DUE, 11).isoformat()})
        assert response.status_code == 410 and "This link has expired" in response.content.decode()
        assert not Session.objects.filter(plan=plan, status=SessionStatus.BOOKED).exists()

    def test_plan_stopped_or_moved_on_is_410(self, client, plan, manager):
        path = book_path(plan)
        TreatmentPlan.objects.filter(pk=plan.pk).update(next_due_on=DUE + dt.timedelta(days=90))
        assert client.get(path).status_code == 410
        TreatmentPlan.objects.filter(pk=plan.pk).update(next_due_on=DUE)
        plan_stop(actor=manager, plan=plan)
        assert client.get(path).status_code == 410

    def test_another_patients_id_in_the_token_is_400(self, client, plan, location):
        other = PatientFactory(location=location)
        token = links.book_token(plan_id=plan.pk, patient_id=other.pk, due_on=DUE)
        assert client.get(f"/treatments/b/{token}/").status_code == 400

    def test_no_practitioner_to_offer_says_call(self, client, location):
        plan = PlanFactory(patient=PatientFactory(location=location))
        TreatmentPlan.objects.filter(pk=plan.pk).update(next_due_on=DUE)
        plan.refresh_from_db()
        response = client.get(book_path(plan))
        assert response.status_code == 200 and 'id="no-slots"' in response.content.decode()

    def test_rate_limited(self, client, plan):
        codes = [client.get(book_path(plan)).status_code for _ in range(31)]
        assert codes[0] == 200 and codes[-1] == 429


class TestDeskSeesIt:
    def test_badge_on_today_calendar_and_history(self, client, client_for, front_desk, plan):
        with time_machine.travel(at(DUE, 7), tick=False):
            session = plan_patient_book(link=link_for(plan), starts_at=at(DUE, 11), now=at(DUE, 7))
            desk = client_for(front_desk)
            today = desk.get("/treatments/today/").content.decode()
            day = desk.get(f"/treatments/calendar/?date={DUE.isoformat()}").content.decode()
            detail = desk.get(f"/treatments/sessions/{session.pk}/").content.decode()
        assert "Booked by patient" in today and "Booked by patient" in day
        assert "Booked by patient" in detail and "the patient (booking link)" in detail


class TestBookingToken:
    """The token is short (it rides in a two-segment SMS) and names exactly what it signed."""

    @pytest.mark.parametrize(
        "plan_id, patient_id, due_on",
        [
            (1, 1, dt.date(2020, 1, 1)),
            (987_654_321, 123_456, dt.date(2031, 7, 14)),
            (36, 35, dt.date(2026, 12, 3)),
        ],
    )
    def test_it_round_trips(self, plan_id, patient_id, due_on):
        token = links.book_token(plan_id=plan_id, patient_id=patient_id, due_on=due_on)
        assert links.booking_from_token(token) == links.BookLink(plan_id, patient_id, due_on)
        assert len(token) < 72  # a JSON list signed by signing.dumps was about 80

    @pytest.mark.parametrize(
        "value", ["1.1", "1.1.1.1", "1..1", "1.-1.1", "1.1.ZZ", "1.1.zzzzzzzzzzzzz", "a.b.c!"]
    )
    def test_a_well_signed_but_malformed_value_is_invalid(self, value):
        token = signing.TimestampSigner(salt=links.BOOK_SALT).sign(value)
        with pytest.raises(links.LinkInvalid):
            links.booking_from_token(token)

    def test_a_date_past_the_calendar_is_invalid(self):
        token = signing.TimestampSigner(salt=links.BOOK_SALT).sign("1.1.zzzzzzzzzzz")
        with pytest.raises(links.LinkInvalid):
            links.booking_from_token(token)

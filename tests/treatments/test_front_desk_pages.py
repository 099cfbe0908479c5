"""What the front desk does from the pages: register, search, book, check in, cancel, work the due list."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from clinic.models import AuditEvent
from clinic.roles import FRONT_DESK, MANAGER, PRACTITIONER
from tests.factories import staff
from tests.treatments.factories import PatientFactory, PlanFactory, SessionFactory, at, next_weekday
from treatments.models import ContactAttempt, Patient, Session, SessionStatus, WorkingHours

pytestmark = pytest.mark.django_db


class TestPatientPages:
    def test_registering_warns_about_a_duplicate_then_accepts_a_confirmation(
        self, client_for, front_desk, location
    ):
        PatientFactory(
            location=location, first_name="Jane", last_name="Doe", date_of_birth=dt.date(1980, 5, 17)
        )
        c = client_for(front_desk)
        data = {
            "first_name": "Jane",
            "last_name": "Doe",
            "date_of_birth": "1980-05-17",
            "phone": "020 7946 0999",
            "location": location.pk,
            "reminder_channel": "sms",
        }
        response = c.post("/treatments/patients/new/", data)
        assert response.status_code == 200
        assert "already registered" in response.text and "different person" in response.text
        assert Patient.objects.count() == 1
        response = c.post("/treatments/patients/new/", data | {"confirm_duplicate": "on"})
        assert response.status_code == 302
        assert Patient.objects.count() == 2

    def test_registering_from_the_booking_form_returns_to_the_slot(self, client_for, front_desk, location):
        back = f"/treatments/sessions/new/?practitioner=3&location={location.pk}&start=2030-01-07T10:15"
        response = client_for(front_desk).post(
            "/treatments/patients/new/",
            {
                "first_name": "New",
                "last_name": "Person",
                "date_of_birth": "1990-01-01",
                "location": location.pk,
                "reminder_channel": "sms",
                "next": back,
            },
        )
        assert response["Location"] == f"{back}&patient={Patient.objects.get().pk}"

    def test_registering_never_redirects_off_the_site(self, client_for, front_desk, location):
        response = client_for(front_desk).post(
            "/treatments/patients/new/",
            {
                "first_name": "New",
                "last_name": "Person",
                "date_of_birth": "1990-01-01",
                "location": location.pk,
                "reminder_channel": "sms",
                "next": "https://evil.example/treatments/sessions/new/",
            },
        )
        assert response["Location"] == f"/treatments/patients/{Patient.objects.get().pk}/"

    def test_a_form_error_is_explained(self, client_for, front_desk, location):
        response = client_for(front_desk).post(
            "/treatments/patients/new/",
            {
                "first_name": "A",
                "last_name": "B",
                "date_of_birth": "1990-01-01",
                "location": location.pk,
                "reminder_channel": "email",
                "reminder_opt_in": "on",
            },
        )
        assert response.status_code == 200 and "Reminders by email need an email address" in response.text

    def test_the_desk_cannot_register_at_another_location(self, client_for, front_desk, other_location):
        response = client_for(front_desk).post(
            "/treatments/patients/new/",
            {
                "first_name": "A",
                "last_name": "B",
                "date_of_birth": "1990-01-01",
                "location": other_location.pk,
                "reminder_channel": "sms",
            },
        )
        assert response.status_code == 200 and not Patient.objects.exists()

    def test_search_json_finds_only_patients_at_my_locations(
        self, client_for, front_desk, patient, other_location
    ):
        PatientFactory(location=other_location, first_name="Jane", last_name="Doe")
        body = client_for(front_desk).get("/treatments/patients/search.json", {"q": "jane d"}).json()
        assert [r["id"] for r in body["results"]] == [patient.pk]
        assert set(body["results"][0]) == {"id", "name", "born", "phone", "location", "url"}

    def test_the_patient_list_searches(self, client_for, front_desk, patient, location):
        PatientFactory(location=location, first_name="Zed", last_name="Zulu")
        response = client_for(front_desk).get("/treatments/patients/", {"q": "doe"})
        assert [p.pk for p in response.context["page"]] == [patient.pk]

    def test_front_desk_sees_no_clinical_record_but_practitioners_do(
        self, client_for, front_desk, practitioner, patient, client
    ):
        url = f"/treatments/patients/{patient.pk}/"
        assert 'id="clinical-record"' not in client_for(front_desk).get(url).text
        client.logout()
        assert 'id="clinical-record"' in client_for(practitioner).get(url).text

    def test_editing_saves_and_audits(self, client_for, front_desk, patient, location):
        response = client_for(front_desk).post(
            f"/treatments/patients/{patient.pk}/edit/",
            {
                "first_name": "Jane",
                "last_name": "Doe-Smith",
                "date_of_birth": patient.date_of_birth.isoformat(),
                "phone": patient.phone,
                "email": "",
                "location": location.pk,
                "reminder_channel": "sms",
            },
        )
        assert response.status_code == 302
        patient.refresh_from_db()
        assert patient.last_name == "Doe-Smith"
        assert AuditEvent.objects.filter(action="patient.update").exists()


class TestBookingPages:
    def test_an_empty_slot_opens_the_booking_form_prefilled(
        self, client_for, front_desk, practitioner_all_hours, location, tomorrow
    ):
        c = client_for(front_desk)
        response = c.get("/treatments/calendar/", {"date": tomorrow.isoformat()})
        start = f"{tomorrow.isoformat()}T10:15"
        assert (
            f"practitioner={practitioner_all_hours.pk}&amp;location={location.pk}&amp;start={start}"
            in response.text
        )
        form = c.get(
            "/treatments/sessions/new/",
            {"practitioner": practitioner_all_hours.pk, "location": location.pk, "start": start},
        ).context["form"]
        assert form.initial["time"] == dt.time(10, 15) and form.initial["date"] == tomorrow
        assert str(form.initial["practitioner"]) == str(practitioner_all_hours.pk)

    def test_the_calendar_prints_the_links_built_for_its_cells(
        self, client_for, front_desk, manager, practitioner, location
    ):
        """The slot links, their accessible names and the keys the browser tests click, and
        each session's link and times, are built once per cell in Python: this pins the HTML
        the template printed when it built them itself."""
        day = dt.date(2027, 3, 2)  # a Tuesday
        WorkingHours.objects.create(
            practitioner=practitioner,
            location=location,
            weekday=day.weekday(),
            start_time=dt.time(9),
            end_time=dt.time(17),
        )
        session = SessionFactory(
            patient=PatientFactory(location=location, first_name="Ann", last_name="Lee"),
            practitioner=practitioner,
            starts_at=at(day, 10, 30),
        )
        desk = client_for(front_desk).get("/treatments/calendar/", {"date": day.isoformat()}).text
        slot = (
            f'<a class="slot-link" href="/treatments/sessions/new/?practitioner={practitioner.pk}'
            f'&amp;location={location.pk}&amp;start=2027-03-02T09:15" aria-label="Book Priya Shah, '
            f'Tue 2 Mar at 09:15" data-slot="prac 2027-03-02T09:15"></a>'
        )
        assert slot in desk
        assert 'data-slot="prac 2027-03-02T08:45"' not in desk  # the desk books in hours only
        assert f'<a class="fw-semibold" href="/treatments/sessions/{session.pk}/">Ann Lee</a>' in desk
        assert '<div class="small">10:30–11:15</div>' in desk
        outside = client_for(manager).get("/treatments/calendar/", {"date": day.isoformat()}).text
        assert slot in outside
        assert (
            'aria-label="Book Priya Shah, Tue 2 Mar at 08:45 (outside working hours)" '
            'data-slot="prac 2027-03-02T08:45"'
        ) in outside

    def test_the_day_calendar_counts_the_cancelled_sessions_it_leaves_out(
        self, client_for, front_desk, practitioner_all_hours, location
    ):
        day = dt.date(2027, 3, 2)
        for hour, last_name, status in (
            (10, "Kept", SessionStatus.BOOKED),
            (11, "Gone", SessionStatus.CANCELLED),
            (12, "Away", SessionStatus.CANCELLED),
        ):
            SessionFactory(
                patient=PatientFactory(location=location, last_name=last_name),
                practitioner=practitioner_all_hours,
                starts_at=at(day, hour),
                status=status,
            )
        page = client_for(front_desk).get("/treatments/calendar/", {"date": day.isoformat()}).text
        assert "Kept" in page and "Gone" not in page and "Away" not in page
        assert "2 cancelled sessions not shown." in page

    def test_booking_from_a_patients_page_starts_at_the_patients_clinic(
        self, client_for, location, other_location
    ):
        """A manager of two sites books a patient of the second: the form offers that site's
        practitioners, not those of the manager's first location."""
        two_sites = staff(MANAGER, location, other_location, username="two_sites")
        there = staff(PRACTITIONER, other_location, username="pract_there")
        patient = PatientFactory(location=other_location)
        form = client_for(two_sites).get("/treatments/sessions/new/", {"patient": patient.pk}).context["form"]
        assert form.initial["location"] == other_location.pk
        assert list(form.fields["practitioner"].queryset) == [there]
        # An explicit location (a calendar slot) still wins.
        form = (
            client_for(two_sites)
            .get("/treatments/sessions/new/", {"patient": patient.pk, "location": location.pk})
            .context["form"]
        )
        assert form.initial["location"] == location.pk

    def _book(self, c, patient, practitioner, day, time="10:00", **extra):
        return c.post(
            "/treatments/sessions/new/",
            {
                "patient": patient.pk,
                "location": patient.location_id,
                "practitioner": practitioner.pk,
                "date": day.isoformat(),
                "time": time,
                "duration_minutes": 45,
                "treatment_type": "skin_quality",
            }
            | extra,
        )

    def test_booking_then_a_clash_is_explained(
        self, client_for, front_desk, practitioner_all_hours, patient, tomorrow
    ):
        c = client_for(front_desk)
        response = self._book(c, patient, practitioner_all_hours, tomorrow)
        assert response.status_code == 302 and f"date={tomorrow.isoformat()}" in response["Location"]
        other = PatientFactory(location=patient.location)
        response = self._book(c, other, practitioner_all_hours, tomorrow, "10:30")
        assert response.status_code == 200 and "is already booked 10:00–10:45" in response.text
        assert Session.objects.count() == 1

    def test_outside_hours_the_desk_is_refused_and_a_manager_may_override(
        self, client_for, front_desk, manager, practitioner, patient, client
    ):
        monday = next_weekday(0)
        WorkingHours.objects.create(
            practitioner=practitioner,
            location=patient.location,
            weekday=0,
            start_time=dt.time(9),
            end_time=dt.time(17),
        )
        response = self._book(client_for(front_desk), patient, practitioner, monday, "18:00")
        assert "Only a manager can book outside working hours" in response.text
        assert "Book outside working hours" not in response.text.replace("can book outside working hours", "")
        client.logout()
        c = client_for(manager)
        response = self._book(c, patient, practitioner, monday, "18:00")
        assert "Tick “Book outside working hours”" in response.text
        response = self._book(c, patient, practitioner, monday, "18:00", override_hours="on")
        assert response.status_code == 302 and Session.objects.get().outside_hours

    def test_a_missing_patient_is_explained(
        self, client_for, front_desk, practitioner_all_hours, tomorrow, location
    ):
        response = client_for(front_desk).post(
            "/treatments/sessions/new/",
            {
                "location": location.pk,
                "practitioner": practitioner_all_hours.pk,
                "date": tomorrow.isoformat(),
                "time": "10:00",
                "duration_minutes": 45,
                "treatment_type": "hair",
            },
        )
        assert "Choose a patient" in response.text

    def test_a_patient_of_another_location_cannot_be_booked(
        self, client_for, front_desk, practitioner_all_hours, other_patient, tomorrow, location
    ):
        response = client_for(front_desk).post(
            "/treatments/sessions/new/",
            {
                "patient": other_patient.pk,
                "location": location.pk,
                "practitioner": practitioner_all_hours.pk,
                "date": tomorrow.isoformat(),
                "time": "10:00",
                "duration_minutes": 45,
                "treatment_type": "hair",
            },
        )
        assert response.status_code == 200 and not Session.objects.exists()

    def test_check_in_is_one_click_from_today(
        self, client_for, front_desk, patient, practitioner_all_hours, time_machine
    ):
        # A session about to start is on today's list: at a fixed morning, not whenever the
        # suite runs (near midnight "in a minute" may be tomorrow).
        time_machine.move_to(at(dt.date(2026, 3, 10), 10), tick=False)
        session = SessionFactory(
            patient=patient,
            practitioner=practitioner_all_hours,
            starts_at=timezone.now() + dt.timedelta(minutes=1),
        )
        c = client_for(front_desk)
        assert f"/treatments/sessions/{session.pk}/check-in/" in c.get("/treatments/today/").text
        response = c.post(f"/treatments/sessions/{session.pk}/check-in/", {"next": "/treatments/today/"})
        assert response["Location"] == "/treatments/today/"
        session.refresh_from_db()
        assert session.status == SessionStatus.ARRIVED

    def test_a_redirect_never_leaves_the_site(self, client_for, front_desk, patient):
        session = SessionFactory(patient=patient, starts_at=timezone.now() + dt.timedelta(days=2))
        response = client_for(front_desk).post(
            f"/treatments/sessions/{session.pk}/check-in/", {"next": "https://evil.example/"}
        )
        assert response["Location"] == f"/treatments/sessions/{session.pk}/"

    def test_cancel_needs_a_reason(self, client_for, front_desk, patient):
        session = SessionFactory(patient=patient, starts_at=timezone.now() + dt.timedelta(days=2))
        c = client_for(front_desk)
        c.post(f"/treatments/sessions/{session.pk}/cancel/", {"reason": ""})
        session.refresh_from_db()
        assert session.status == SessionStatus.BOOKED
        c.post(f"/treatments/sessions/{session.pk}/cancel/", {"reason": "Flu"})
        session.refresh_from_db()
        assert session.status == SessionStatus.CANCELLED and session.cancel_reason == "Flu"

    def test_reschedule_from_the_page_keeps_history(
        self, client_for, front_desk, practitioner_all_hours, patient, tomorrow
    ):
        session = SessionFactory(
            patient=patient, practitioner=practitioner_all_hours, starts_at=at(tomorrow, 9)
        )
        response = client_for(front_desk).post(
            f"/treatments/sessions/{session.pk}/reschedule/",
            {
                "date": tomorrow.isoformat(),
                "time": "15:00",
                "duration_minutes": 30,
                "practitioner": practitioner_all_hours.pk,
                "reason": "Work",
            },
        )
        assert response.status_code == 302
        session.refresh_from_db()
        assert timezone.localtime(session.starts_at).hour == 15 and session.duration_minutes == 30
        detail = client_for(front_desk).get(f"/treatments/sessions/{session.pk}/").text
        assert "Rescheduled" in detail and "Work" in detail


class TestDueList:
    def test_it_lists_due_unbooked_plans_and_logs_contact(
        self, client_for, front_desk, location, other_location
    ):
        due = PlanFactory(patient__location=location, started_on=timezone.localdate() - dt.timedelta(days=3))
        PlanFactory(
            patient__location=location, started_on=timezone.localdate() + dt.timedelta(days=10)
        )  # not yet
        booked = PlanFactory(patient__location=location)
        SessionFactory(patient=booked.patient, plan=booked, starts_at=timezone.now() + dt.timedelta(days=1))
        PlanFactory(patient__location=other_location)  # another site
        c = client_for(front_desk)
        response = c.get("/treatments/due/")
        assert [p.pk for p in response.context["page"]] == [due.pk]
        c.post(f"/treatments/plans/{due.pk}/contact/", {"outcome": "left_message", "note": "voicemail"})
        attempt = ContactAttempt.objects.get()
        assert (attempt.made_by, attempt.outcome) == (front_desk, "left_message")
        assert "Left a message" in c.get("/treatments/due/").text

    def test_the_book_button_prefills_patient_and_plan(self, client_for, front_desk, location):
        plan = PlanFactory(patient__location=location)
        text = client_for(front_desk).get("/treatments/due/").text
        assert f"?patient={plan.patient_id}&amp;plan={plan.pk}" in text


class TestManagerPages:
    def test_a_manager_edits_a_protocol(self, client_for, manager):
        from treatments.models import ProtocolTemplate

        t = ProtocolTemplate.objects.get(key="skin-quality")
        data = {
            "name": t.name,
            "induction_sessions": 4,
            "induction_sessions_max": 4,
            "induction_interval_days": 21,
            "maintenance_min_days": 100,
            "maintenance_max_days": 90,
            "description": "",
            "is_active": "on",
        }
        response = client_for(manager).post(f"/treatments/protocols/{t.pk}/edit/", data)
        assert response.status_code == 200 and "Must be at least" in response.text
        response = client_for(manager).post(
            f"/treatments/protocols/{t.pk}/edit/", data | {"maintenance_max_days": 130}
        )
        assert response.status_code == 302
        t.refresh_from_db()
        assert (t.induction_sessions, t.induction_interval_days, t.maintenance_max_days) == (4, 21, 130)
        assert AuditEvent.objects.filter(action="protocol.update").exists()

    def test_a_manager_tunes_what_charting_starts_from(self, client_for, manager):
        from treatments.models import ProtocolTemplate

        t = ProtocolTemplate.objects.get(key="hair")
        assert t.chart_defaults["route"] == "scalp" and t.chart_defaults["areas"] == ["scalp"]
        data = {
            "name": t.name,
            "induction_sessions": 4,
            "induction_sessions_max": 6,
            "induction_interval_days": 30,
            "maintenance_min_days": 60,
            "maintenance_max_days": 90,
            "is_active": "on",
            "chart_route": "scalp",
            "chart_areas": ["scalp"],
            "chart_vials": 2,
            "chart_needle_gauge": 40,
            "chart_volume_per_point_ml": "0.04",
        }
        url = f"/treatments/protocols/{t.pk}/edit/"
        response = client_for(manager).post(url, data)
        assert response.status_code == 200 and "Give a value from 14 to 34" in response.text
        assert client_for(manager).post(url, data | {"chart_needle_gauge": 30}).status_code == 302
        t.refresh_from_db()
        assert t.chart_defaults == {
            "route": "scalp",
            "areas": ["scalp"],
            "vials": 2,
            "needle_gauge": 30,
            "volume_per_point_ml": Decimal("0.040"),
        }
        audit = AuditEvent.objects.filter(action="protocol.update").latest("pk")
        assert audit.after["chart_needle_gauge"] == 30

    def test_a_manager_sets_working_hours(self, client_for, manager, practitioner, location):
        url = f"/treatments/working-hours/{location.pk}/{practitioner.pk}/"
        data = {
            "hours-TOTAL_FORMS": 2,
            "hours-INITIAL_FORMS": 0,
            "hours-MIN_NUM_FORMS": 0,
            "hours-MAX_NUM_FORMS": 1000,
            "hours-0-weekday": 0,
            "hours-0-start_time": "09:00",
            "hours-0-end_time": "13:00",
            "hours-1-weekday": 0,
            "hours-1-start_time": "14:00",
            "hours-1-end_time": "18:00",
        }
        assert client_for(manager).post(url, data).status_code == 302
        assert [str(h) for h in WorkingHours.objects.order_by("start_time")] == [
            "Monday 09:00–13:00",
            "Monday 14:00–18:00",
        ]
        # The page now shows both rows as initial forms, plus two blank extra rows.
        again = data | {"hours-TOTAL_FORMS": 4, "hours-INITIAL_FORMS": 2, "hours-1-start_time": "12:00"}
        again |= {f"hours-{i}-{f}": "" for i in (2, 3) for f in ("weekday", "start_time", "end_time")}
        response = client_for(manager).post(url, again)
        assert response.status_code == 200 and "two intervals overlap" in response.text
        response = client_for(manager).post(
            url, again | {"hours-1-start_time": "14:00", "hours-0-DELETE": "on"}
        )
        assert response.status_code == 302
        assert [str(h) for h in WorkingHours.objects.all()] == ["Monday 14:00–18:00"]

    def test_a_desk_of_one_site_cannot_see_another_sites_calendar(self, client_for, other_location):
        desk = staff(FRONT_DESK, other_location, username="desk_mcr")
        from clinic.models import Location

        mine = Location.objects.get(code="manchester")
        assert client_for(desk).get("/treatments/calendar/", {"location": mine.pk}).status_code == 200
        marylebone = Location.objects.create(name="Marylebone X", code="mx")
        assert client_for(desk).get("/treatments/calendar/", {"location": marylebone.pk}).status_code == 404


def test_the_protocol_form_edits_exactly_the_audited_fields():
    from treatments.forms import ProtocolTemplateForm
    from treatments.services.plans import TEMPLATE_FIELDS

    assert set(ProtocolTemplateForm.base_fields) == set(TEMPLATE_FIELDS)

"""Every treatments view: allowed role, anonymous, wrong role 403, other location 404, wrong method 405."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest
from django.utils import timezone

from clinic.roles import MANAGER, PRACTITIONER
from tests.factories import staff
from tests.treatments.factories import (
    PatientFactory,
    PlanFactory,
    SessionFactory,
    all_week_hours,
    at,
)

pytestmark = pytest.mark.django_db


@dataclass
class World:
    own: dict
    other: dict


def _objects(location, practitioner):
    patient = PatientFactory(location=location, first_name="Dora", last_name="Doe")
    now = timezone.now()
    today_start = max(now + dt.timedelta(minutes=5), at(timezone.localdate(), 0, 5))
    session = SessionFactory(
        patient=patient, practitioner=practitioner, starts_at=now - dt.timedelta(minutes=10)
    )
    if timezone.localtime(session.starts_at).date() != timezone.localdate():
        session.starts_at = today_start
        session.save()
    plan = PlanFactory(patient=patient)
    return {
        "patient": patient,
        "session": session,
        "plan": plan,
        "location": location,
        "practitioner": practitioner,
    }


@pytest.fixture
def world(location, other_location, practitioner):
    all_week_hours(practitioner, location)
    other_prac = staff(PRACTITIONER, other_location, username="prac_other")
    return World(own=_objects(location, practitioner), other=_objects(other_location, other_prac))


@pytest.fixture
def no_role(location):
    user = staff(PRACTITIONER, location, username="norole")
    user.groups.clear()
    return user


# name, method, url (o = the objects of one location), allowed, wrong role, scoped, data
VIEWS = [
    ("patient_list", "get", lambda o: "/treatments/patients/", "front_desk", "no_role", False, None),
    (
        "patient_search",
        "get",
        lambda o: "/treatments/patients/search.json?q=doe",
        "front_desk",
        "no_role",
        False,
        None,
    ),
    (
        "patient_create",
        "get",
        lambda o: "/treatments/patients/new/",
        "front_desk",
        "practitioner",
        False,
        None,
    ),
    (
        "patient_detail",
        "get",
        lambda o: f"/treatments/patients/{o['patient'].pk}/",
        "front_desk",
        "no_role",
        True,
        None,
    ),
    (
        "patient_edit",
        "get",
        lambda o: f"/treatments/patients/{o['patient'].pk}/edit/",
        "front_desk",
        "practitioner",
        True,
        None,
    ),
    (
        "plan_create",
        "get",
        lambda o: f"/treatments/patients/{o['patient'].pk}/plans/new/",
        "practitioner",
        "front_desk",
        True,
        None,
    ),
    ("calendar_day", "get", lambda o: "/treatments/calendar/", "front_desk", "no_role", False, None),
    ("calendar_week", "get", lambda o: "/treatments/calendar/week/", "front_desk", "no_role", False, None),
    ("today", "get", lambda o: "/treatments/today/", "front_desk", "no_role", False, None),
    ("session_book", "get", lambda o: "/treatments/sessions/new/", "front_desk", "no_role", False, None),
    (
        "session_detail",
        "get",
        lambda o: f"/treatments/sessions/{o['session'].pk}/",
        "front_desk",
        "no_role",
        True,
        None,
    ),
    (
        "session_reschedule",
        "get",
        lambda o: f"/treatments/sessions/{o['session'].pk}/reschedule/",
        "front_desk",
        "no_role",
        True,
        None,
    ),
    (
        "session_check_in",
        "post",
        lambda o: f"/treatments/sessions/{o['session'].pk}/check-in/",
        "front_desk",
        "no_role",
        True,
        {},
    ),
    (
        "session_start",
        "post",
        lambda o: f"/treatments/sessions/{o['session'].pk}/start/",
        "practitioner",
        "front_desk",
        True,
        {},
    ),
    (
        "session_complete",
        "post",
        lambda o: f"/treatments/sessions/{o['session'].pk}/complete/",
        "practitioner",
        "front_desk",
        True,
        {},
    ),
    (
        "session_cancel",
        "post",
        lambda o: f"/treatments/sessions/{o['session'].pk}/cancel/",
        "front_desk",
        "no_role",
        True,
        {"reason": "Ill"},
    ),
    (
        "session_no_show",
        "post",
        lambda o: f"/treatments/sessions/{o['session'].pk}/no-show/",
        "front_desk",
        "no_role",
        True,
        {},
    ),
    (
        "plan_detail",
        "get",
        lambda o: f"/treatments/plans/{o['plan'].pk}/",
        "front_desk",
        "no_role",
        True,
        None,
    ),
    (
        "plan_stop",
        "post",
        lambda o: f"/treatments/plans/{o['plan'].pk}/stop/",
        "practitioner",
        "front_desk",
        True,
        {},
    ),
    (
        "contact_attempt_record",
        "post",
        lambda o: f"/treatments/plans/{o['plan'].pk}/contact/",
        "front_desk",
        "practitioner",
        True,
        {"outcome": "called"},
    ),
    ("due_list", "get", lambda o: "/treatments/due/", "front_desk", "practitioner", False, None),
    ("protocol_list", "get", lambda o: "/treatments/protocols/", "front_desk", "no_role", False, None),
    ("protocol_edit", "get", lambda o: "/treatments/protocols/1/edit/", "manager", "front_desk", False, None),
    (
        "working_hours_list",
        "get",
        lambda o: "/treatments/working-hours/",
        "manager",
        "front_desk",
        False,
        None,
    ),
    (
        "working_hours_edit",
        "get",
        lambda o: f"/treatments/working-hours/{o['location'].pk}/{o['practitioner'].pk}/",
        "manager",
        "front_desk",
        True,
        None,
    ),
    (
        "calendar_feed",
        "get",
        lambda o: "/treatments/calendar-feed/",
        "practitioner",
        "front_desk",
        False,
        None,
    ),
    (
        "calendar_feed_revoke",
        "post",
        lambda o: "/treatments/calendar-feed/revoke/",
        "practitioner",
        "front_desk",
        False,
        {},
    ),
]
IDS = [v[0] for v in VIEWS]
FORM_VIEWS = {
    "patient_create",
    "patient_edit",
    "plan_create",
    "session_book",
    "session_reschedule",
    "protocol_edit",
    "working_hours_edit",
    "calendar_feed",
}


def _call(client, method, url, data):
    return getattr(client, method)(url, data or {})


@pytest.mark.parametrize(("name", "method", "url", "allowed", "wrong", "scoped", "data"), VIEWS, ids=IDS)
class TestEveryView:
    def test_the_allowed_role_gets_through(
        self, request, client_for, world, name, method, url, allowed, wrong, scoped, data
    ):
        response = _call(client_for(request.getfixturevalue(allowed)), method, url(world.own), data)
        assert response.status_code == (200 if method == "get" else 302), response.content[:500]

    def test_anonymous_users_are_sent_to_sign_in(
        self, client, world, name, method, url, allowed, wrong, scoped, data
    ):
        response = _call(client, method, url(world.own), data)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")

    def test_a_wrong_role_gets_403(
        self, request, client_for, world, no_role, name, method, url, allowed, wrong, scoped, data
    ):
        response = _call(client_for(request.getfixturevalue(wrong)), method, url(world.own), data)
        assert response.status_code == 403

    def test_another_locations_object_is_404(
        self, request, client_for, world, name, method, url, allowed, wrong, scoped, data
    ):
        if not scoped:
            pytest.skip("not a location-owned object")
        response = _call(client_for(request.getfixturevalue(allowed)), method, url(world.other), data)
        assert response.status_code == 404

    def test_the_wrong_method_is_405(
        self, request, client_for, world, name, method, url, allowed, wrong, scoped, data
    ):
        user = request.getfixturevalue(allowed)
        if name in FORM_VIEWS:
            response = client_for(user).delete(url(world.own))
        else:
            response = _call(client_for(user), "post" if method == "get" else "get", url(world.own), data)
        assert response.status_code == 405


def test_every_treatments_url_is_in_the_matrix():
    from django.urls import get_resolver

    names = {
        p.name
        for p in get_resolver()
        .url_patterns[[str(p.pattern) for p in get_resolver().url_patterns].index("treatments/")]
        .url_patterns
    }
    from tests.treatments.test_clinical_views import IDS as CLINICAL_IDS
    from tests.treatments.test_record_views import IDS as RECORD_IDS

    # The public feed has its own tests; clinical views have their matrices in
    # test_clinical_views and test_record_views.
    assert names - set(IDS) - set(CLINICAL_IDS) - set(RECORD_IDS) == {"ical_feed"}


def test_managers_at_both_locations_see_both(client_for, world, other_location):
    boss = staff(MANAGER, world.own["location"], other_location, username="boss")
    assert client_for(boss).get(f"/treatments/patients/{world.other['patient'].pk}/").status_code == 200

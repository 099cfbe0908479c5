"""Two patients pick the same slot from their booking links at the same moment: one has it,
the other is told it has just been taken (PostgreSQL row locks; ``session_book``'s guard)."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import connection

from tests.concurrency import at_once
from tests.treatments.booking_setup import due_plan, weekday_hours
from tests.treatments.factories import at
from treatments import links
from treatments.models import Session, SessionStatus
from treatments.services.patient_booking import TAKEN, plan_patient_book

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL"),
    pytest.mark.django_db(transaction=True),
]

TODAY = dt.date(2026, 3, 9)
DUE = dt.date(2026, 3, 16)
NOW = at(TODAY, 10)


def _race(calls: list[dict]) -> tuple[list[int], list[ValidationError]]:
    successes, refusals, unexpected = at_once(*(lambda kw=kw: plan_patient_book(**kw).pk for kw in calls))
    assert unexpected == []
    return successes, refusals


@pytest.mark.parametrize("patients", [2, 5])
def test_patients_racing_for_one_slot_one_wins_the_others_pick_again(location, practitioner, patients):
    weekday_hours(practitioner, location)
    plans = [due_plan(location, practitioner, DUE) for _ in range(patients)]
    slot = at(DUE, 11)
    calls = [{"link": links.BookLink(p.pk, p.patient_id, DUE), "starts_at": slot, "now": NOW} for p in plans]
    with time_machine.travel(NOW, tick=False):
        successes, refusals = _race(calls)
    assert len(successes) == 1 and len(refusals) == patients - 1
    assert all(r.code == "slot_taken" and r.messages == [TAKEN] for r in refusals)
    assert Session.objects.filter(practitioner=practitioner, status=SessionStatus.BOOKED).count() == 1


def test_a_patient_and_the_front_desk_racing_cannot_both_have_the_practitioner(
    location, practitioner, front_desk
):
    from tests.treatments.factories import PatientFactory
    from treatments.services import session_book

    weekday_hours(practitioner, location)
    plan = due_plan(location, practitioner, DUE)
    walk_in = PatientFactory(location=location)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def patient():
        from django.db import connection as c

        try:
            barrier.wait(timeout=10)
            plan_patient_book(
                link=links.BookLink(plan.pk, plan.patient_id, DUE), starts_at=at(DUE, 11), now=NOW
            )
            outcomes.append("patient")
        except ValidationError as exc:
            outcomes.append(exc.code or "refused")
        finally:
            c.close()

    def desk():
        from django.db import connection as c

        try:
            barrier.wait(timeout=10)
            session_book(
                actor=front_desk,
                patient=walk_in,
                practitioner=practitioner,
                location=location,
                starts_at=at(DUE, 11, 30),
                duration_minutes=45,
                treatment_type="skin_quality",
            )
            outcomes.append("desk")
        except ValidationError:
            outcomes.append("desk refused")
        finally:
            c.close()

    with time_machine.travel(NOW, tick=False):
        threads = [threading.Thread(target=patient), threading.Thread(target=desk)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
    assert sorted(outcomes) in (["desk", "slot_taken"], ["desk refused", "patient"])
    assert Session.objects.filter(practitioner=practitioner, status=SessionStatus.BOOKED).count() == 1


@pytest.mark.parametrize("taps", [2, 4])
def test_a_double_tap_books_once_and_every_tap_shows_the_booking(location, practitioner, taps):
    """The same patient submits the page several times at once (a double tap, two tabs): every
    submit passes the page's "already booked?" check, one books, the others wait on the plan's
    lock and find it booked. They must see that booking, not "already booked" over the list."""
    from django.core.cache import caches
    from django.test import Client

    from tests.treatments.booking_setup import book_path

    caches["ratelimit"].clear()
    weekday_hours(practitioner, location)
    plan = due_plan(location, practitioner, DUE)
    path, slot = book_path(plan), at(DUE, 11).isoformat()

    def tap():
        return Client().post(path, {"slot": slot})

    with time_machine.travel(NOW, tick=False):
        responses, refusals, unexpected = at_once(*(tap for _ in range(taps)))
        assert unexpected == [] and refusals == []
        # 302 to the link (the winner, and a loser that waited on the lock); a tap that came
        # after the winner's commit is shown the booking at once (200).
        assert sorted({r.status_code for r in responses}) in ([302], [200, 302])
        assert all("You are booked" in r.content.decode() for r in responses if r.status_code == 200)
        page = Client().get(path).content.decode()
    assert "You are booked" in page and "Monday 16 March 2026 at 11:00" in page
    assert Session.objects.filter(plan=plan, status=SessionStatus.BOOKED).count() == 1

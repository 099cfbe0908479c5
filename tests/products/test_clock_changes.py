"""Manual checks on the nights the clocks change (Europe/London).

A ``datetime-local`` field has no offset: 01:30 on the night the clocks go back names two
instants, and on the night they go forward 01:30 names none.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import time_machine

from products.forms import ExcursionReviewForm, ReadingForm
from products.models import Excursion, Lot, LotStatus, TemperatureReading
from products.services import reading_record

pytestmark = pytest.mark.django_db

UTC = dt.UTC
# 25 October 2026: 01:00–02:00 happens twice, BST (UTC+1) then GMT.
FIRST_0140 = dt.datetime(2026, 10, 25, 0, 40, tzinfo=UTC)  # 01:40 BST
SECOND_0130 = dt.datetime(2026, 10, 25, 1, 30, 20, tzinfo=UTC)  # 01:30:20 GMT
# 28 March 2027: 01:00–02:00 does not happen; 02:30 BST is 01:30 UTC.
AFTER_SPRING_GAP = dt.datetime(2027, 3, 28, 1, 30, tzinfo=UTC)


def reading_form(taken_at: str) -> ReadingForm:
    return ReadingForm({"taken_at": taken_at, "temperature_c": "5"})


def test_the_second_0130_is_read_as_the_one_that_has_just_happened():
    with time_machine.travel(SECOND_0130, tick=False):
        form = reading_form("2026-10-25T01:30")
        assert form.is_valid(), form.errors
    assert form.cleaned_data["taken_at"] == dt.datetime(2026, 10, 25, 1, 30, tzinfo=UTC)


def test_during_the_first_pass_0130_is_the_first():
    with time_machine.travel(FIRST_0140, tick=False):
        form = reading_form("2026-10-25T01:30")
        assert form.is_valid(), form.errors
    assert form.cleaned_data["taken_at"] == dt.datetime(2026, 10, 25, 0, 30, tzinfo=UTC)


def test_a_time_in_the_skipped_hour_is_refused_saying_why():
    with time_machine.travel(AFTER_SPRING_GAP, tick=False):
        form = reading_form("2027-03-28T01:30")
        assert not form.is_valid()
    assert "clocks went forward" in form.errors["taken_at"][0]


def test_just_after_the_gap_the_time_is_plain():
    with time_machine.travel(AFTER_SPRING_GAP, tick=False):
        form = reading_form("2027-03-28T02:30")
        assert form.is_valid(), form.errors
    assert form.cleaned_data["taken_at"] == AFTER_SPRING_GAP


def test_a_check_at_the_second_0130_is_saved_with_the_time_the_form_offers(client_for, manager, unit, lot):
    """The form pre-fills "now"; at the repeated hour it used to refuse its own value."""
    with time_machine.travel(SECOND_0130, tick=False):
        client = client_for(manager)
        url = f"/products/units/{unit.pk}/readings/new/"
        offered = "2026-10-25T01:30"
        assert f'value="{offered}"' in client.get(url).text
        response = client.post(url, {"taken_at": offered, "temperature_c": "9.2"}, follow=True)
    assert "stock is quarantined" in response.text
    assert TemperatureReading.objects.get().taken_at == dt.datetime(2026, 10, 25, 1, 30, tzinfo=UTC)
    assert Lot.objects.get(pk=lot.pk).status == LotStatus.QUARANTINED


def test_the_manufacturer_call_can_be_dated_in_the_repeated_hour(unit, lot, manager):
    with time_machine.travel(SECOND_0130, tick=False):
        reading_record(unit=unit, actor=manager, temperature_c=Decimal("9.5"))
        excursion = Excursion.objects.get()
        form = ExcursionReviewForm(
            {"manufacturer_contacted_at": "2026-10-25T01:15"}, instance=excursion, held=[]
        )
        form.is_valid()
    assert "manufacturer_contacted_at" not in form.errors
    assert form.cleaned_data["manufacturer_contacted_at"] == dt.datetime(2026, 10, 25, 1, 15, tzinfo=UTC)

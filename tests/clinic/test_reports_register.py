"""The treatment register: one row per product given, from the treatment records."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.utils import timezone

from clinic.models import AuditEvent
from clinic.roles import PRACTITIONER
from products.models import Lot
from tests.factories import staff
from tests.treatments.factories import PatientFactory, chart, charting_lot, line_input, ready_session

pytestmark = pytest.mark.django_db


@pytest.fixture
def register(location, other_location, practitioner):
    """Two charted sessions at Marylebone (one with two lines), one at Manchester."""
    lot = charting_lot(location, quantity=10, name="Benev ERC")
    Lot.objects.filter(pk=lot.pk).update(lot_number="BV-1")
    ann = PatientFactory(location=location, first_name="Ann", last_name="Archer")
    ben = PatientFactory(location=location, first_name="Ben", last_name="Baker")
    chart(ready_session(ann, practitioner), practitioner, line_input(Lot.objects.get(pk=lot.pk)))
    chart(
        ready_session(ben, practitioner),
        practitioner,
        line_input(Lot.objects.get(pk=lot.pk), vials=2, route="topical", areas=["face", "neck"]),
        line_input(Lot.objects.get(pk=lot.pk), route="intradermal", areas=["scalp"]),
    )
    away = charting_lot(other_location, quantity=3, name="Elsewhere Serum")
    prac_mcr = staff(PRACTITIONER, other_location, username="prac_mcr")
    cara = PatientFactory(location=other_location, first_name="Cara", last_name="Cole")
    chart(ready_session(cara, prac_mcr), prac_mcr, line_input(away))
    return {"lot": lot, "ann": ann, "ben": ben}


def test_register_lists_every_line_at_the_managers_locations(register, client_for, manager):
    response = client_for(manager).get("/clinic/reports/register/")
    assert response.status_code == 200
    rows = response.context["page"].object_list
    assert sorted((r["patient"], r["amount"], r["route_label"]) for r in rows) == [
        ("Ann Archer", "1 vial (5.00 mL)", "Intradermal injection (nappage)"),
        ("Ben Baker", "1 vial (5.00 mL)", "Intradermal injection (nappage)"),
        ("Ben Baker", "2 vials (10.00 mL)", "Topical via open microchannels"),
    ]
    assert {r["lot__lot_number"] for r in rows} == {"BV-1"}
    topical = next(r for r in rows if r["route"] == "topical")
    assert topical["area_labels"] == "Face, Neck" and topical["practitioner"] == "Priya Shah"
    assert f"/treatments/patients/{register['ann'].pk}/timeline/" in response.content.decode()


def test_register_export_streams_the_same_lines(register, client_for, manager):
    response = client_for(manager).get("/clinic/reports/register/export.csv")
    assert response.streaming
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    assert rows[0][:6] == ["session_time", "location", "patient", "date_of_birth", "practitioner", "product"]
    assert sorted((r[2], r[6], r[9], r[10]) for r in rows[1:]) == [
        ("Ann Archer", "BV-1", "5.00", "Intradermal injection (nappage)"),
        ("Ben Baker", "BV-1", "10.00", "Topical via open microchannels"),
        ("Ben Baker", "BV-1", "5.00", "Intradermal injection (nappage)"),
    ]
    assert AuditEvent.objects.filter(action="report.register_export", actor=manager).count() == 1


def test_register_period_filter(register, client_for, manager):
    tomorrow = timezone.localdate() + dt.timedelta(days=1)
    response = client_for(manager).get(f"/clinic/reports/register/?date_from={tomorrow}&date_to={tomorrow}")
    assert list(response.context["page"].object_list) == []


def test_register_query_count_is_fixed(
    register, client_for, manager, practitioner, django_assert_num_queries
):
    client = client_for(manager)
    client.get("/clinic/reports/register/")
    with django_assert_num_queries(8, info="the register fixture"):
        client.get("/clinic/reports/register/")
    for _ in range(3):
        patient = PatientFactory(location=register["ann"].location)
        chart(
            ready_session(patient, practitioner),
            practitioner,
            line_input(Lot.objects.get(pk=register["lot"].pk)),
        )
    with django_assert_num_queries(8, info="three more treatments"):
        client.get("/clinic/reports/register/")

"""Absurd numbers in the stock and cold-chain forms are a form error, never a 500 (issue 17).

An integer past any column (``99999999999999999999``), one past a 32-bit column, a float past any
float, ``nan`` and a 5 000-digit number, posted to each number field of the forms that move stock or
record a temperature: the page comes back with the form and its error, and nothing is written.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from clinic.models import AuditEvent
from products.forms import ProductForm
from products.models import Lot, OpenedVial
from products.services import vial_open

pytestmark = pytest.mark.django_db

ABSURD = ("99999999999999999999", "-99999999999999999999", "1e309", "nan", "inf", "9" * 5000)


def _receive(unit, product):
    expiry = (timezone.localdate() + dt.timedelta(days=300)).isoformat()
    return "/products/lots/receive/", {
        "lot_number": "ABSURD-1",
        "product": product.pk,
        "expiry_date": expiry,
        "quantity": "6",
        "storage_unit": unit.pk,
        "packaging_intact": "on",
        "logger_ok": "unknown",
    }


FORMS = {
    "receive": (_receive, ("quantity", "arrival_temperature_c", "certificate_concentration_per_ml")),
    "waste": (lambda o: (f"/products/lots/{o.pk}/waste/", {"quantity": 1, "reason": "broken"}), ["quantity"]),
    "adjust": (lambda o: (f"/products/lots/{o.pk}/adjust/", {"counted": 8, "reason": "count"}), ("counted",)),
    "reading": (
        lambda unit: (
            f"/products/units/{unit.pk}/readings/new/",
            {"taken_at": timezone.localtime().strftime("%Y-%m-%dT%H:%M"), "temperature_c": "5"},
        ),
        ("temperature_c", "min_c", "max_c"),
    ),
    "vial_draw": (lambda vial: (f"/products/vials/{vial.pk}/", {"volume_ml": "1.5"}), ("volume_ml",)),
}  # fmt: skip


@pytest.fixture
def objects(lot, unit, product, practitioner):
    return {
        "receive": (unit, product),
        "waste": (lot,),
        "adjust": (lot,),
        "reading": (unit,),
        "vial_draw": (vial_open(lot=lot, actor=practitioner),),
    }


@pytest.mark.parametrize("form", FORMS)
def test_an_absurd_number_is_a_form_error(client_for, manager, lot, objects, form):
    build, fields = FORMS[form]
    url, valid = build(*objects[form])
    client = client_for(manager)
    audit_rows, stock = AuditEvent.objects.count(), Lot.objects.get(pk=lot.pk).quantity_on_hand
    drawn = list(OpenedVial.objects.values_list("volume_drawn_ml", flat=True))
    for field in fields:
        for value in ABSURD:
            response = client.post(url, {**valid, field: value})
            assert response.status_code == 200, (field, value[:30], response.status_code)
            assert response.context["form"].errors.get(field), (field, value[:30])
    assert AuditEvent.objects.count() == audit_rows
    assert Lot.objects.get(pk=lot.pk).quantity_on_hand == stock
    assert list(OpenedVial.objects.values_list("volume_drawn_ml", flat=True)) == drawn


@pytest.mark.parametrize("value", ["99999999999999999999", "1e309", "nan", "-1"])
def test_a_products_stated_concentration_is_bounded(value):
    assert ProductForm(data={"concentration_per_ml": value}).errors["concentration_per_ml"]

"""Dates at the edges of the calendar in any date parameter: a message or today, never a 500."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db

EXTREMES = ["0001-01-01", "9999-12-31", "1899-12-31", "2100-01-01", "2026-02-30", "20261", "-1"]


@pytest.mark.parametrize("value", EXTREMES)
@pytest.mark.parametrize(
    "who, url, name",
    [
        ("front_desk", "/treatments/calendar/", "date"),
        ("front_desk", "/treatments/calendar/week/", "date"),
        ("manager", "/clinic/audit/", "date_from"),
        ("manager", "/clinic/audit/", "date_to"),
        ("manager", "/clinic/reports/recall/?product=1&date_from=2026-01-01", "date_to"),
        ("manager", "/clinic/reports/recall/?product=1&date_to=2026-01-01", "date_from"),
        ("manager", "/clinic/reports/usage/", "date_from"),
        ("manager", "/clinic/reports/usage/", "date_to"),
        ("manager", "/clinic/reports/register/", "date_to"),
        ("manager", "/clinic/reports/cold-chain/?unit={unit}", "month"),
    ],
)
def test_no_date_parameter_makes_a_500(request, client_for, location, who, url, name, value):
    from tests.products.factories import StorageUnitFactory

    user = request.getfixturevalue(who)
    if "{unit}" in url:
        url = url.format(unit=StorageUnitFactory(location=location).pk)
    sep = "&" if "?" in url else "?"
    param = value[:7] if name == "month" else value
    response = client_for(user).get(f"{url}{sep}{name}={param}")
    assert response.status_code in (200, 400), (url, name, value, response.status_code)


# --- Implausible values are refused where they are entered ------------------------------------


@pytest.mark.parametrize("born", ["0001-01-01", "1899-12-31", "2999-01-01"])
def test_an_implausible_date_of_birth_is_refused(born, location, front_desk):
    import datetime as dt

    from django.core.exceptions import ValidationError

    from tests.treatments.factories import PatientFactory

    patient = PatientFactory.build(location=location, date_of_birth=dt.date.fromisoformat(born))
    with pytest.raises(ValidationError) as caught:
        patient.full_clean()
    assert "date of birth" in str(caught.value)


def test_a_negative_unit_cost_is_refused():
    from decimal import Decimal

    from django.core.exceptions import ValidationError

    from tests.products.factories import ProductFactory

    product = ProductFactory.build(unit_cost=Decimal("-1"))
    with pytest.raises(ValidationError) as caught:
        product.full_clean()
    assert "cannot be negative" in str(caught.value)


@pytest.mark.parametrize("expires", ["0001-01-01", "2099-12-31"])
def test_an_implausible_calibration_expiry_is_refused(expires, location):
    import datetime as dt

    from django.core.exceptions import ValidationError

    from tests.products.factories import StorageUnitFactory

    unit = StorageUnitFactory.build(location=location, calibration_expires_on=dt.date.fromisoformat(expires))
    with pytest.raises(ValidationError) as caught:
        unit.full_clean()
    assert "calibration" in str(caught.value)


@pytest.mark.parametrize("when", ["9999-12-31T10:00", "0001-01-01T10:00", "2999-01-01T10:00"])
def test_a_time_that_has_not_happened_or_long_before_is_refused(when):
    from products.forms import PastLocalDateTimeField

    field = PastLocalDateTimeField()
    from django import forms

    with pytest.raises(forms.ValidationError):
        field.clean(when)

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

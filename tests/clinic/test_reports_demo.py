"""Every manager page renders on the demo clinic (real data of every kind, both locations)."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from products.models import Lot, StorageUnit

pytestmark = pytest.mark.django_db


def test_every_report_renders_on_the_demo_clinic(client):
    call_command("seed_demo", stdout=io.StringIO())
    manager = get_user_model().objects.get(username="manager")
    client.force_login(manager)
    lot = Lot.objects.for_user(manager).filter(treatment_lines__isnull=False).first()
    unit = StorageUnit.objects.for_user(manager).first()
    urls = [
        "/",
        "/clinic/reports/",
        "/clinic/reports/usage/",
        "/clinic/reports/waste/",
        "/clinic/reports/valuation/",
        f"/clinic/reports/cold-chain/?unit={unit.pk}",
        "/clinic/reports/register/",
        "/clinic/reports/recall/?lot=a",
    ]
    if lot is not None:
        urls.append(f"/clinic/reports/recall/lots/{lot.pk}/")
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
    assert client.get("/clinic/reports/").context["stock"], "the demo clinic has stock"

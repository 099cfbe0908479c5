from __future__ import annotations

import io

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.management import call_command

pytestmark = pytest.mark.django_db(transaction=True)


def _counts() -> dict[str, int]:
    return {
        m._meta.label: m.objects.count()
        for m in apps.get_models()
        if m._meta.app_label in {"clinic", "products", "treatments", "auth"}
        and m._meta.label != "clinic.AuditEvent"
    }


def test_migrations_create_no_users():
    assert get_user_model().objects.count() == 0


def test_seed_demo_builds_the_demo_users_and_running_it_twice_changes_nothing():
    call_command("seed_demo", stdout=io.StringIO())
    first = _counts()
    assert {"frontdesk", "practitioner", "manager"} <= set(
        get_user_model().objects.values_list("username", flat=True)
    )
    call_command("seed_demo", stdout=io.StringIO())
    assert _counts() == first


def test_if_empty_skips_a_database_with_data():
    call_command("seed_demo", stdout=io.StringIO())
    out = io.StringIO()
    call_command("seed_demo", "--if-empty", stdout=out)
    assert "skipped" in out.getvalue()

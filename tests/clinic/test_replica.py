"""Reports read from a replica when DATABASE_REPLICA_URL is set; nothing else does."""

from __future__ import annotations

import pytest
from django.urls import resolve

from clinic import replica
from clinic.reports import recall_views, views
from tests.clinic.test_settings import run_manage

ROUTER = replica.ReportsReplicaRouter()


def test_reads_go_to_the_primary_outside_a_report():
    assert ROUTER.db_for_read(None) is None and ROUTER.db_for_write(None) is None


def test_a_wrapped_view_reads_from_the_replica_and_writes_to_the_primary(monkeypatch):
    monkeypatch.setattr(replica, "replica_configured", lambda: True)
    seen = {}

    def view(request):
        seen["read"], seen["write"] = ROUTER.db_for_read(None), ROUTER.db_for_write(None)
        return "page"

    assert replica.reads_from_replica(view)(None) == "page"
    assert seen == {"read": "replica", "write": None}
    assert ROUTER.db_for_read(None) is None  # reset afterwards


def test_the_routing_is_reset_when_the_view_fails(monkeypatch):
    monkeypatch.setattr(replica, "replica_configured", lambda: True)

    def view(request):
        raise ValueError("boom")

    with pytest.raises(ValueError):
        replica.reads_from_replica(view)(None)
    assert ROUTER.db_for_read(None) is None


def test_without_a_replica_the_wrapper_changes_nothing():
    seen = {}

    def view(request):
        seen["read"] = ROUTER.db_for_read(None)

    replica.reads_from_replica(view)(None)
    assert seen == {"read": None}


def test_the_replica_is_never_migrated():
    assert ROUTER.allow_migrate("default", "treatments") and not ROUTER.allow_migrate("replica", "treatments")


def test_period_reports_are_wrapped_and_recall_pages_are_not():
    assert resolve("/clinic/reports/usage/").func.__wrapped__ is views.usage
    assert resolve("/clinic/reports/register/export.csv").func.__wrapped__ is views.register_export
    assert resolve("/clinic/reports/recall/").func is recall_views.recall_index


def test_settings_add_the_replica_and_its_router():
    probe = (
        "from django.conf import settings as s; "
        "print(s.DATABASES['replica']['NAME'], s.DATABASES['replica']['TEST']['MIRROR'], s.DATABASE_ROUTERS)"
    )
    result = run_manage(
        {"DEBUG": "true", "DATABASE_REPLICA_URL": "sqlite:////tmp/replica.sqlite3"}, "shell", "-c", probe
    )
    assert result.returncode == 0, result.stderr
    assert "/tmp/replica.sqlite3 default ['clinic.replica.ReportsReplicaRouter']" in result.stdout


def test_a_replica_of_another_engine_stops_start_up():
    result = run_manage(
        {"DEBUG": "true", "DATABASE_REPLICA_URL": "postgresql://reader@replica.example/clinic"}, "check"
    )
    assert result.returncode != 0 and "same engine" in result.stderr

"""/metrics (request metrics and the clinic's gauges) and the split health probes."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from unittest import mock

import pytest
from django.utils import timezone

from clinic.models import Notification, WorkerHeartbeat
from products.models import Excursion
from products.services.stock import excursion_hold_lot, lot_quarantine
from tests.products.factories import StorageUnitFactory, make_lot

pytestmark = pytest.mark.django_db

TOKEN = "scrape-" + "t" * 40
AT = dt.datetime(2026, 12, 2, 10, 0, tzinfo=dt.UTC)


@pytest.fixture
def token(settings):
    settings.METRICS_TOKEN = TOKEN
    return {"HTTP_AUTHORIZATION": f"Bearer {TOKEN}"}


def _message(location, status, key):
    return Notification.objects.create(
        kind="x", channel="email", to_address="a@b.c", subject="s", body="b", status=status,
        dedupe_key=key, location=location,
    )  # fmt: skip


def _excursion(unit):
    return Excursion.objects.create(
        storage_unit=unit, started_at=AT, last_out_at=AT, lowest_c=Decimal("9"), highest_c=Decimal("10")
    )


def _clinic_state(location, manager, n):
    """n of each: pending and failed messages, open excursions holding a lot, quarantined lots."""
    unit = StorageUnitFactory(location=location)
    for i in range(n):
        _message(location, "pending", f"p{n}-{i}")
        _message(location, "failed", f"f{n}-{i}")
        lot_quarantine(lot=make_lot(unit=unit, actor=manager), actor=manager, reason="Damaged box")
        # One open excursion per unit: each in a unit of its own.
        exposed = make_lot(unit=StorageUnitFactory(location=location), actor=manager)
        excursion_hold_lot(excursion=_excursion(exposed.storage_unit), lot=exposed, actor=manager)
    # Closed excursions and sent messages are not counted.
    closed = _excursion(unit)
    closed.closed_at = AT
    closed.save()
    _message(location, "sent", f"s{n}")


def _samples(text: str) -> dict[str, float]:
    return {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("clinic_")
    }


class TestMetricsAccess:
    def test_no_token_configured_is_404_to_anonymous_callers(self, client, settings):
        settings.METRICS_TOKEN = ""
        assert client.get("/metrics").status_code == 404
        assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 404

    def test_a_wrong_token_is_404(self, client, token):
        assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer nope").status_code == 404
        assert client.get("/metrics", HTTP_AUTHORIZATION=f"Basic {TOKEN}").status_code == 404
        assert client.get("/metrics").status_code == 404

    def test_the_token_gets_request_metrics_and_the_clinic_gauges(self, client, token):
        client.get("/healthz/live")
        response = client.get("/metrics", **token)
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/plain")
        assert "django_http_requests_latency_seconds_by_view_method" in response.text
        assert "clinic_outbox_messages" in response.text
        assert "no-store" in response["Cache-Control"]

    def test_a_manager_session_may_look_other_roles_may_not(
        self, client_for, manager, front_desk, practitioner
    ):
        assert client_for(front_desk).get("/metrics").status_code == 403
        assert client_for(practitioner).get("/metrics").status_code == 403
        assert client_for(manager).get("/metrics").status_code == 200

    def test_it_refuses_post(self, client, token, client_for, manager):
        assert client.post("/metrics", **token).status_code == 405
        assert client_for(manager).post("/metrics").status_code == 405


class TestClinicGauges:
    def test_the_gauges_count_what_the_pages_count(self, client, token, location, manager):
        _clinic_state(location, manager, 2)
        samples = _samples(client.get("/metrics", **token).text)
        code = location.code
        assert samples[f'clinic_outbox_messages{{location="{code}",status="pending"}}'] == 2
        assert samples[f'clinic_outbox_messages{{location="{code}",status="failed"}}'] == 2
        assert samples['clinic_outbox_messages{location="",status="held"}'] == 0
        assert samples[f'clinic_excursions_open{{location="{code}"}}'] == 2
        assert samples[f'clinic_lots_held{{cause="excursion",location="{code}"}}'] == 2
        assert samples[f'clinic_lots_held{{cause="quarantine",location="{code}"}}'] == 2

    def test_an_empty_clinic_reports_zeros(self, client, token):
        samples = _samples(client.get("/metrics", **token).text)
        assert samples['clinic_outbox_messages{location="",status="pending"}'] == 0
        assert samples['clinic_excursions_open{location=""}'] == 0
        assert samples['clinic_lots_held{cause="quarantine",location=""}'] == 0

    @pytest.mark.parametrize("n", [1, 4])
    def test_a_scrape_costs_three_queries_whatever_the_data(
        self, client, token, location, manager, n, django_assert_num_queries
    ):
        _clinic_state(location, manager, n)
        with django_assert_num_queries(3):
            assert client.get("/metrics", **token).status_code == 200


class TestProbes:
    def test_liveness_touches_neither_database_nor_redis(self, client, django_assert_num_queries):
        with django_assert_num_queries(0), mock.patch("clinic.views.redis.Redis.from_url") as redis:
            response = client.get("/healthz/live")
        assert response.status_code == 200 and response.json() == {"status": "ok"}
        redis.assert_not_called()

    def test_readiness_is_200_with_database_redis_and_migrations(self, client):
        with mock.patch("clinic.views._redis_ok", return_value=True):
            response = client.get("/healthz/ready")
        assert response.status_code == 200
        assert response.json() == {"status": "ok"}  # anonymous: up or down only

    @pytest.mark.parametrize("down", ["_database_ok", "_redis_ok", "_migrations_ok"])
    def test_readiness_is_503_when_anything_is_missing(self, client, down):
        with (
            mock.patch("clinic.views._redis_ok", return_value=True),
            mock.patch(f"clinic.views.{down}", return_value=False),
        ):
            response = client.get("/healthz/ready")
        assert response.status_code == 503
        assert response.json() == {"status": "error"}

    def test_unapplied_migrations_make_it_unready(self, client, token):
        with (
            mock.patch("clinic.views._migrations_applied", False),
            mock.patch("clinic.views._redis_ok", return_value=True),
            mock.patch("django.db.migrations.executor.MigrationExecutor.migration_plan", return_value=[1]),
        ):
            response = client.get("/healthz/ready", **token)
        assert response.status_code == 503
        assert response.json()["migrations"] == "unavailable"

    def test_readiness_details_for_the_token_and_managers(self, client, token, client_for, manager):
        WorkerHeartbeat.objects.create(name="celery@a", last_seen=timezone.now())
        with mock.patch("clinic.views._redis_ok", return_value=True):
            body = client.get("/healthz/ready", **token).json()
            assert body["database"] == body["redis"] == body["migrations"] == "ok"
            assert body["worker"]["last_heartbeat"] is not None
            assert "worker" in client_for(manager).get("/healthz/ready").json()


class TestHealthzHeartbeat:
    def test_other_staff_see_database_and_redis_but_not_the_worker(self, client_for, front_desk):
        WorkerHeartbeat.objects.create(name="celery@a", last_seen=timezone.now())
        body = client_for(front_desk).get("/healthz").json()
        assert body["database"] == "ok" and "worker" not in body

    def test_anonymous_callers_never_see_the_worker(self, client):
        WorkerHeartbeat.objects.create(name="celery@a", last_seen=timezone.now())
        assert set(client.get("/healthz").json()) == {"status"}
        assert set(client.get("/healthz/ready").json()) == {"status"}

    def test_the_metrics_token_sees_the_worker(self, client, token):
        WorkerHeartbeat.objects.create(name="celery@a", last_seen=timezone.now())
        body = client.get("/healthz", **token).json()
        assert body["worker"]["last_heartbeat"] is not None

"""Prometheus metrics: django-prometheus' request metrics plus the clinic's own gauges.

``/metrics`` is not public. A scraper sends ``Authorization: Bearer $METRICS_TOKEN``; a
manager's signed-in session may look too; everyone else gets 404 (no token configured: 404 to
every anonymous caller), so the endpoint does not even show that it exists.

The clinic's gauges are computed at scrape time by ``ClinicCollector``, in three grouped
queries whatever the data (outbox by status and location, open excursions by location, held
lots by location and cause), with the same rules as the pages: ``Excursion.objects.open()`` and
``Lot.objects.on_shelf()``.

Several gunicorn workers: set ``PROMETHEUS_MULTIPROC_DIR`` to an empty directory shared by
them (prometheus_client's multiprocess mode) and the request metrics are summed over all.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Iterator

import prometheus_client
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Exists, OuterRef
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import multiprocess
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from clinic.models import Notification
from products.models import Excursion, ExcursionLot, Lot

# Who may read /metrics in a browser: whoever may read the outbox (managers).
METRICS_PERMISSION = "clinic.view_notification"
OUTBOX_STATUSES = (Notification.Status.PENDING, Notification.Status.FAILED, Notification.Status.HELD)


def bearer_token_ok(request: HttpRequest) -> bool:
    """The request carries ``Authorization: Bearer <METRICS_TOKEN>`` and a token is configured."""
    token = settings.METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    if not token or scheme.lower() != "bearer" or not given:
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())


def may_see_internals(request: HttpRequest) -> bool:
    """The metrics token, or a signed-in user who may read the outbox (a manager)."""
    if bearer_token_ok(request):
        return True
    return bool(request.user.is_authenticated and request.user.has_perm(METRICS_PERMISSION))


class ClinicCollector(Collector):
    """The clinic's gauges, read from the database at each scrape (three queries)."""

    def describe(self) -> list:
        # Registering must not query the database; the names are given here.
        return []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        outbox = GaugeMetricFamily(
            "clinic_outbox_messages",
            "Outbox messages not sent yet, by status (pending, failed, held for review) and location.",
            labels=["status", "location"],
        )
        rows = (
            Notification.objects.filter(status__in=OUTBOX_STATUSES)
            .order_by()
            .values("status", "location__code")
            .annotate(n=Count("id"))
        )
        seen = set()
        for row in rows:
            outbox.add_metric([row["status"], row["location__code"] or ""], row["n"])
            seen.add(row["status"])
        for status in OUTBOX_STATUSES:  # a zero rather than no series, so alerts can compare
            if status not in seen:
                outbox.add_metric([status, ""], 0)
        yield outbox

        excursions = GaugeMetricFamily(
            "clinic_excursions_open",
            "Temperature excursions not closed yet, by location.",
            labels=["location"],
        )
        for row in (
            Excursion.objects.open().order_by().values("storage_unit__location__code").annotate(n=Count("id"))
        ):
            excursions.add_metric([row["storage_unit__location__code"]], row["n"])
        if not excursions.samples:
            excursions.add_metric([""], 0)
        yield excursions

        held = GaugeMetricFamily(
            "clinic_lots_held",
            "Lots on the shelf held back from use, by location and cause: an open temperature "
            "excursion, or a quarantine for another reason.",
            labels=["cause", "location"],
        )
        open_hold = ExcursionLot.objects.filter(lot=OuterRef("pk"), excursion__closed_at__isnull=True)
        for row in (
            Lot.objects.on_shelf()
            .filter(is_quarantined=True)
            .annotate(by_excursion=Exists(open_hold))
            .order_by()
            .values("storage_unit__location__code", "by_excursion")
            .annotate(n=Count("id"))
        ):
            cause = "excursion" if row["by_excursion"] else "quarantine"
            held.add_metric([cause, row["storage_unit__location__code"]], row["n"])
        if not held.samples:
            held.add_metric(["quarantine", ""], 0)
        yield held


def _process_registry() -> prometheus_client.CollectorRegistry:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = prometheus_client.CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry
    return prometheus_client.REGISTRY


@login_not_required
@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """The Prometheus text format: request metrics of the processes, then the clinic's gauges."""
    if not may_see_internals(request):
        if request.user.is_authenticated:
            raise PermissionDenied
        raise Http404
    clinic = prometheus_client.CollectorRegistry(auto_describe=False)
    clinic.register(ClinicCollector())
    body = prometheus_client.generate_latest(_process_registry()) + prometheus_client.generate_latest(clinic)
    return HttpResponse(body, content_type=prometheus_client.CONTENT_TYPE_LATEST)

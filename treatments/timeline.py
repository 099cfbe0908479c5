"""The patient timeline: sessions, treatments (lots, amounts), consents, screening and plans
on one page, newest first, paginated, with a fixed number of queries however long the history.

How: each source contributes ``(kind, pk, at)`` rows; one UNION ALL query sorts and slices
them in the database (plus one COUNT for the pager), then each kind present on the page is
loaded in one query with its related rows prefetched. Years of history cost the same as a week.

Hook for other apps (photos): ``register_source(TimelineSource(kind, keys, load, template))``
where ``keys(patient)`` returns a queryset filtered to the patient and ``at_field`` names its
timestamp, ``load(pks)`` returns ``{pk: object}`` in a fixed number of queries, and
``template`` renders one ``item.obj``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.core.paginator import Page, Paginator
from django.db import models
from django.db.models import F, Prefetch, Value

from treatments.models import (
    Addendum,
    Patient,
    PatientConsent,
    ProductLine,
    Screening,
    Session,
    TreatmentPlan,
    TreatmentRecord,
)

PAGE_SIZE = 20


@dataclass(frozen=True)
class TimelineSource:
    kind: str
    keys: Callable[[Patient], models.QuerySet]
    at_field: str
    load: Callable[[list[int]], dict[int, object]]
    template: str


@dataclass
class TimelineItem:
    kind: str
    at: object
    obj: object
    template: str


SOURCES: dict[str, TimelineSource] = {}


def register_source(source: TimelineSource) -> None:
    SOURCES[source.kind] = source


def _by_pk(qs) -> dict[int, object]:
    return {obj.pk: obj for obj in qs}


register_source(
    TimelineSource(
        kind="session",
        # Sessions with a treatment record appear as the treatment instead.
        keys=lambda p: Session.objects.filter(patient=p, record__isnull=True),
        at_field="starts_at",
        load=lambda pks: _by_pk(
            Session.objects.filter(pk__in=pks).select_related("practitioner", "location")
        ),
        template="treatments/timeline/session.html",
    )
)
register_source(
    TimelineSource(
        kind="treatment",
        keys=lambda p: TreatmentRecord.objects.filter(session__patient=p),
        at_field="session__starts_at",
        load=lambda pks: _by_pk(
            TreatmentRecord.objects.filter(pk__in=pks)
            .select_related("session__location", "practitioner", "signed_by")
            .prefetch_related(
                Prefetch(
                    "lines",
                    queryset=ProductLine.objects.select_related("lot__product").prefetch_related(
                        "map_points"
                    ),
                ),
                "adverse_events",
                Prefetch("addenda", queryset=Addendum.objects.select_related("written_by")),
            )
        ),
        template="treatments/timeline/treatment.html",
    )
)
register_source(
    TimelineSource(
        kind="consent",
        keys=lambda p: PatientConsent.objects.filter(patient=p),
        at_field="signed_at",
        load=lambda pks: _by_pk(
            PatientConsent.objects.filter(pk__in=pks)
            .select_related("template", "practitioner")
            .prefetch_related("withdrawals")
        ),
        template="treatments/timeline/consent.html",
    )
)
register_source(
    TimelineSource(
        kind="screening",
        keys=lambda p: Screening.objects.filter(patient=p),
        at_field="answered_at",
        load=lambda pks: _by_pk(Screening.objects.filter(pk__in=pks).select_related("overridden_by")),
        template="treatments/timeline/screening.html",
    )
)
register_source(
    TimelineSource(
        kind="plan",
        keys=lambda p: TreatmentPlan.objects.filter(patient=p),
        at_field="created_at",
        load=lambda pks: _by_pk(TreatmentPlan.objects.filter(pk__in=pks).select_related("template")),
        template="treatments/timeline/plan.html",
    )
)


def _keys(patient: Patient) -> models.QuerySet:
    parts = [
        source.keys(patient)
        .order_by()
        .annotate(t_kind=Value(kind, output_field=models.CharField()), t_at=F(source.at_field))
        .values_list("t_kind", "pk", "t_at")
        for kind, source in SOURCES.items()
    ]
    first, *rest = parts
    return first.union(*rest, all=True).order_by("-t_at", "t_kind")


def patient_timeline_page(patient: Patient, number, per_page: int = PAGE_SIZE) -> Page:
    """One page of the timeline; ``page.object_list`` holds TimelineItems, newest first."""
    page = Paginator(_keys(patient), per_page).get_page(number)
    rows = list(page.object_list)
    wanted: dict[str, list[int]] = {}
    for kind, pk, _at in rows:
        wanted.setdefault(kind, []).append(pk)
    loaded = {kind: SOURCES[kind].load(pks) for kind, pks in wanted.items()}
    page.object_list = [
        TimelineItem(kind=kind, at=at, obj=loaded[kind][pk], template=SOURCES[kind].template)
        for kind, pk, at in rows
        if pk in loaded[kind]
    ]
    return page

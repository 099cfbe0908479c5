"""Cold-chain pages: storage units with their chart, readings, logger imports and excursions."""

from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.storage import storages
from django.db.models import BooleanField, Count, ExpressionWrapper, OuterRef, Q, Subquery, Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from clinic.forms import error_text, parse_id
from clinic.scoping import get_for_user_or_404, locations_for
from clinic.tables import paginate, sort_queryset
from products import services
from products.charts import DEFAULT_RANGE, RANGES, daily_extremes, temperature_series
from products.forms import AddendumForm, ExcursionReviewForm, ImportAnswerForm, ImportForm, ReadingForm
from products.models import Excursion, ExcursionLot, ImportStatus, ReadingImport, StorageUnit
from products.models.compliance import cleared_condition, lot_documents_condition

UNIT_QS = StorageUnit.objects.select_related("location")


@permission_required("products.view_storageunit", raise_exception=True)
@require_GET
def unit_list(request: HttpRequest) -> HttpResponse:
    qs = UNIT_QS.for_user(request.user).annotate(
        n_lots=Count("lots", filter=Q(lots__quantity_on_hand__gt=0), distinct=True),
        n_open=Count("excursions", filter=Q(excursions__closed_at__isnull=True), distinct=True),
    )
    location = request.GET.get("location", "")
    location_id = parse_id(location)
    if location_id is not None:
        qs = qs.filter(location_id=location_id)
    qs, sort = sort_queryset(
        request, qs, {"name": "name", "location": "location__name", "kind": "kind"}, "location"
    )
    return render(
        request,
        "products/unit_list.html",
        {
            "page": paginate(request, qs),
            "sort": sort,
            "locations": locations_for(request.user),
            "location": location,
        },
    )


@permission_required("products.view_storageunit", raise_exception=True)
@require_GET
def unit_detail(request: HttpRequest, pk: int) -> HttpResponse:
    unit = _unit(request, pk)
    range_key = request.GET.get("range", DEFAULT_RANGE)
    if range_key not in RANGES:
        range_key = DEFAULT_RANGE
    end = timezone.now()
    start = end - dt.timedelta(days=RANGES[range_key])
    # Logger gaps once, for the chart's period and the fortnight of the missed-checks list.
    checks_since = end - dt.timedelta(days=14)
    interval = services.logger_interval(unit, until=end)
    logger_gaps = services.logger_gaps(unit, since=min(start, checks_since), until=end, interval=interval)
    series = temperature_series(unit, start=start, end=end, gaps=logger_gaps)
    excursions = list(unit.excursions.filter(Q(last_out_at__gte=start) | Q(closed_at__isnull=True))[:50])
    series["excursions"] = [
        {
            "start": int(e.started_at.timestamp() * 1000),
            "end": int((e.back_in_range_at or e.last_out_at).timestamp() * 1000),
        }
        for e in excursions
    ]
    recent = unit.readings.select_related("recorded_by").order_by("-taken_at")[:10]
    gaps = services.missed_checks(unit, since=checks_since, until=end, logger=logger_gaps)
    chart_gaps = [g for g in logger_gaps if g.before > start]
    return render(
        request,
        "products/unit_detail.html",
        {
            "unit": unit,
            "series": series,
            "range_key": range_key,
            "ranges": RANGES,
            "excursions": excursions,
            "recent": recent,
            "daily": daily_extremes(unit),
            "gaps": gaps[:20],
            "logger_interval": interval,
            "chart_gaps": chart_gaps[-20:][::-1],
            "chart_gap_count": len(chart_gaps),
            "chart_gap_total": sum((g.overlap(start, end) for g in chart_gaps), dt.timedelta(0)),
            "lots": unit.lots.filter(quantity_on_hand__gt=0)
            .with_status()
            .with_clearance()
            .select_related("product")[:50],
            "imports": unit.imports.select_related("imported_by")[:5],
        },
    )


def _unit(request: HttpRequest, pk: int) -> StorageUnit:
    return get_for_user_or_404(UNIT_QS, request.user, pk=pk)


@permission_required("products.add_temperaturereading", raise_exception=True)
@require_http_methods(["GET", "POST"])
def reading_create(request: HttpRequest, pk: int) -> HttpResponse:
    unit = _unit(request, pk)
    form = ReadingForm(request.POST or None, initial={"taken_at": timezone.now()})
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        try:
            services.reading_record(
                unit=unit, actor=request.user, taken_at=d["taken_at"], temperature_c=d["temperature_c"],
                min_c=d["min_c"], max_c=d["max_c"],
            )  # fmt: skip
        except ValidationError as exc:
            form.add_error(None, error_text(exc))
        else:
            if unit.excursions.open().filter(last_out_at=d["taken_at"]).exists():
                messages.warning(request, "Outside the allowed range: the unit's stock is quarantined.")
            else:
                messages.success(request, "Reading recorded.")
            return redirect("products:unit_detail", pk=unit.pk)
    return render(request, "products/reading_form.html", {"unit": unit, "form": form})


@permission_required("products.import_readings", raise_exception=True)
@require_http_methods(["GET", "POST"])
def readings_import(request: HttpRequest, pk: int) -> HttpResponse:
    unit = _unit(request, pk)
    form = ImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        result = services.readings_import_file(
            unit=unit, file=upload.file, filename=upload.name, actor=request.user
        )
        return _after_import(request, result)
    return render(request, "products/import_form.html", {"unit": unit, "form": form})


def _after_import(request: HttpRequest, result: services.ImportResult) -> HttpResponse:
    batch = result.batch
    if result.already_imported:
        messages.info(
            request, f"This file was already imported on {batch.imported_at:%d %b %Y}; nothing added."
        )
        return redirect("products:import_detail", pk=batch.pk)
    if batch.status == ImportStatus.PENDING:
        return redirect("products:import_detail", pk=batch.pk)
    if batch.status == ImportStatus.REFUSED:
        messages.error(
            request,
            f"Nothing was imported: {batch.refused} line(s) of the file cannot be read (listed below).",
        )
        return redirect("products:import_detail", pk=batch.pk)
    messages.success(
        request,
        f"{batch.added} readings added, {batch.already_held} already held, from {batch.lines} lines.",
    )
    applied = result.excursions
    if applied and applied.opened:
        numbers = ", ".join(f"#{e.pk}" for e in applied.opened)
        messages.warning(
            request,
            f"{len(applied.opened)} excursion(s) recorded ({numbers}); "
            "the stock that was in the unit during them is quarantined.",
        )
    if applied and applied.frozen:
        numbers = ", ".join(f"#{e.pk}" for e in applied.frozen)
        messages.warning(
            request,
            f"These readings fall within closed excursion(s) {numbers}, which are not "
            "changed: add an addendum if they change the record.",
        )
    return redirect("products:import_detail", pk=batch.pk)


@permission_required("products.view_storageunit", raise_exception=True)
@require_http_methods(["GET", "POST"])
def import_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """An import's summary (every line accounted for), or the question a pending one asks."""
    batch = get_for_user_or_404(
        ReadingImport.objects.select_related("storage_unit__location", "imported_by"),
        request.user,
        pk=pk,
    )
    unit = batch.storage_unit
    questions = batch.summary.get("questions", []) if batch.status == ImportStatus.PENDING else []
    form = ImportAnswerForm(request.POST or None, questions=questions) if questions else None
    if request.method == "POST":
        if not request.user.has_perm("products.import_readings"):
            raise PermissionDenied
        if form is None:  # answered already (a second tab, a double click)
            messages.info(request, "This import has no question waiting.")
            return redirect("products:import_detail", pk=batch.pk)
        if not batch.file_name:  # (every pending import keeps its file; an old row might not)
            messages.error(request, "The file of this import was not kept: import it again.")
            return redirect("products:readings_import", pk=unit.pk)
        if form.is_valid():
            answers = {**batch.summary.get("answers", {}), **form.cleaned_data}
            with storages["private"].open(batch.file_name, "rb") as stored:
                result = services.readings_import_file(
                    unit=unit, file=stored, filename=batch.filename, actor=request.user,
                    answers=answers, pending=batch,
                )  # fmt: skip
            return _after_import(request, result)
    return render(
        request,
        "products/import_detail.html",
        {"batch": batch, "unit": unit, "summary": batch.summary, "form": form},
    )


@permission_required("products.view_excursion", raise_exception=True)
@require_GET
def excursion_list(request: HttpRequest) -> HttpResponse:
    qs = (
        Excursion.objects.for_user(request.user)
        .select_related("storage_unit__location")
        .annotate(n_lots=Count("lots"))
    )
    state = request.GET.get("state", "")
    if state == "open":
        qs = qs.open()
    elif state == "closed":
        qs = qs.filter(closed_at__isnull=False)
    qs, sort = sort_queryset(
        request,
        qs,
        {"started": "started_at", "unit": "storage_unit__name", "highest": "highest_c"},
        "-started",
    )
    return render(
        request, "products/excursion_list.html", {"page": paginate(request, qs), "sort": sort, "state": state}
    )


@permission_required("products.view_excursion", raise_exception=True)
@require_http_methods(["GET", "POST"])
def excursion_detail(request: HttpRequest, pk: int) -> HttpResponse:
    excursion = get_for_user_or_404(
        Excursion.objects.select_related("storage_unit__location", "reviewed_by"), request.user, pk=pk
    )
    # Each lot's time out of range over its life: every excursion it was exposed to.
    lifetime = (
        ExcursionLot.objects.filter(lot=OuterRef("lot"))
        .order_by()
        .values("lot")
        .annotate(total=Sum("exposed_minutes"))
        .values("total")
    )
    held = list(
        excursion.lots.select_related("lot__product", "lot__storage_unit").annotate(
            lot_is_cleared=ExpressionWrapper(
                cleared_condition(product_ref="lot__product", prefix="lot__product__")
                & lot_documents_condition(lot_ref="lot"),
                output_field=BooleanField(),
            ),
            lifetime_minutes=Subquery(lifetime),
        )
    )
    for item in held:  # the held lots' badges say "Not cleared" rather than "Available"
        item.lot.is_cleared = item.lot_is_cleared
    can_review = request.user.has_perm("products.review_excursion")
    form = None
    if excursion.is_open and can_review:
        form = ExcursionReviewForm(request.POST or None, instance=excursion, held=held)
    if request.method == "POST":
        if form is None:
            return render(request, "403.html", status=403)
        if form.is_valid():
            try:
                if request.POST.get("close"):
                    services.excursion_close(
                        excursion=excursion, actor=request.user, decisions=form.decisions(), **form.review()
                    )
                    messages.success(request, "Excursion closed; the decisions are applied to each lot.")
                else:
                    services.excursion_review(excursion=excursion, actor=request.user, **form.review())
                    messages.success(request, "Review saved; the stock stays quarantined until you close it.")
            except ValidationError as exc:
                for message in exc.messages:
                    form.add_error(None, message)
            else:
                return redirect("products:excursion_detail", pk=excursion.pk)
    return render(
        request,
        "products/excursion_detail.html",
        {
            "excursion": excursion,
            "held": held,
            "form": form,
            "addenda": excursion.addenda.select_related("author"),
            "addendum_form": AddendumForm() if (not excursion.is_open and can_review) else None,
        },
    )


@permission_required("products.review_excursion", raise_exception=True)
@require_POST
def excursion_addendum(request: HttpRequest, pk: int) -> HttpResponse:
    excursion = get_for_user_or_404(
        Excursion.objects.select_related("storage_unit__location"), request.user, pk=pk
    )
    form = AddendumForm(request.POST)
    if form.is_valid():
        try:
            services.excursion_addendum(
                excursion=excursion, actor=request.user, text=form.cleaned_data["text"]
            )
        except ValidationError as exc:
            messages.error(request, error_text(exc))
        else:
            messages.success(request, "Addendum added.")
    else:
        messages.error(request, "Write the addendum.")
    return redirect("products:excursion_detail", pk=excursion.pk)

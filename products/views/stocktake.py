"""Stock-take pages: the list (reports), start, count (tablet), review and post, the report.

The count is blind: the count page shows the lots but not the quantity on record, so the
counter writes down what is on the shelf rather than confirming a number; the expected
quantities and the differences appear on the review page, before anything is posted.
"""

from __future__ import annotations

from itertools import groupby

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import ValidationError
from django.db.models import Count, F, Q
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from clinic.forms import error_text, parse_id
from clinic.scoping import AuthenticatedHttpRequest, get_for_user_or_404, locations_for
from clinic.tables import paginate, sort_queryset
from products import services
from products.gs1 import GS1Error
from products.models import Lot, StockTake, StockTakeLine, StockTakeStatus, StorageUnit
from products.scanning import read_scan
from products.stocktake_forms import (
    COMMON_REASONS,
    StockTakeCancelForm,
    StockTakeCountForm,
    StockTakeReviewForm,
    StockTakeStartForm,
)


def _stock_take(request: AuthenticatedHttpRequest, pk: int) -> StockTake:
    return get_for_user_or_404(
        StockTake.objects.select_related(
            "location", "storage_unit", "started_by", "posted_by", "cancelled_by"
        ),
        request.user,
        pk=pk,
    )


def _by_unit(rows: list[tuple[StockTakeLine, object]]) -> list[tuple[StorageUnit, list]]:
    """Rows (already in shelf order) grouped by the unit each lot was counted in."""
    return [(unit, list(group)) for unit, group in groupby(rows, key=lambda row: row[0].storage_unit)]


def _gtin_fits(lot: Lot, gtin: str) -> bool:
    own = lot.gtin or lot.product.gtin
    return not gtin or not own or own.zfill(14) == gtin.zfill(14)


def _changed(line: StockTakeLine) -> bool:
    """The lot's stock moved since its line's snapshot (posting will ask for a recount)."""
    return (
        line.lot.quantity_on_hand != line.expected_quantity
        or line.lot.storage_unit_id != line.storage_unit_id
    )


@permission_required("products.view_lot", raise_exception=True)
@require_GET
def stocktake_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Every stock-take at the user's locations: drafts to carry on, posted ones as reports."""
    counted = Q(lines__counted_quantity__isnull=False)
    qs = (
        StockTake.objects.for_user(request.user)
        .select_related("location", "storage_unit", "started_by", "posted_by")
        .annotate(
            n_lines=Count("lines"),
            n_counted=Count("lines", filter=counted),
            n_differences=Count(
                "lines", filter=counted & ~Q(lines__counted_quantity=F("lines__expected_quantity"))
            ),
        )
    )
    status = request.GET.get("status", "")
    if status in StockTakeStatus.values:
        qs = qs.filter(status=status)
    qs, sort = sort_queryset(
        request,
        qs,
        {"started": "started_at", "posted": "posted_at", "location": "location__name", "status": "status"},
        "-started",
    )
    return render(
        request,
        "products/stocktake_list.html",
        {"page": paginate(request, qs), "sort": sort, "status": status, "statuses": StockTakeStatus.choices},
    )


@permission_required("products.move_stock", raise_exception=True)
@require_http_methods(["GET", "POST"])
def stocktake_start(request: AuthenticatedHttpRequest) -> HttpResponse:
    locations = list(locations_for(request.user).order_by("name"))
    units = list(
        StorageUnit.objects.for_user(request.user)
        .filter(is_active=True, location__in=locations)
        .order_by("location__name", "name")
    )
    initial = {}
    unit_id = parse_id(request.GET.get("unit", ""))
    if unit_id is not None and any(unit.pk == unit_id for unit in units):
        initial["scope"] = f"unit-{unit_id}"
    form = StockTakeStartForm(request.POST or None, locations=locations, units=units, initial=initial)
    if request.method == "POST" and form.is_valid():
        location, unit = form.cleaned_data["scope"]
        try:
            stock_take = services.stocktake_start(
                actor=request.user, location=location, storage_unit=unit, note=form.cleaned_data["note"]
            )
        except ValidationError as exc:
            form.add_error(None, error_text(exc))
        else:
            messages.success(request, f"Stock-take started: {stock_take.lines.count()} lot(s) to count.")
            return redirect("products:stocktake_count", pk=stock_take.pk)
    return render(request, "products/stocktake_start.html", {"form": form})


@permission_required("products.move_stock", raise_exception=True)
@require_http_methods(["GET", "POST"])
def stocktake_count(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """The tablet page: one big number field per lot, grouped by unit; saved as often as wanted."""
    stock_take = _stock_take(request, pk)
    if not stock_take.is_draft:
        return redirect("products:stocktake_detail", pk=stock_take.pk)
    lines = list(stock_take.lines.for_count())
    form = StockTakeCountForm(request.POST or None, lines=lines)
    if request.method == "POST":
        if form.is_valid():
            try:
                saved = services.stocktake_count(
                    stock_take=stock_take, actor=request.user, counts=form.counts()
                )
            except ValidationError as exc:
                form.add_error(None, error_text(exc))
            else:
                code = request.POST.get("code", "").strip()
                if code:
                    _add_lot(request, stock_take, code)
                elif "review" in request.POST:
                    return redirect("products:stocktake_review", pk=stock_take.pk)
                messages.success(request, f"Counts saved ({saved} changed).")
                return redirect("products:stocktake_count", pk=stock_take.pk)
        else:
            form.add_error(None, "Some counts could not be saved: correct the fields marked below.")
    rows = [(line, (form.field_for(line), form.shown(line))) for line in lines]
    return render(
        request,
        "products/stocktake_count.html",
        {
            "stock_take": stock_take,
            "form": form,
            "groups": _by_unit(rows),
            "n_lines": len(lines),
            "n_counted": sum(1 for line in lines if line.is_counted),
        },
    )


@permission_required("products.move_stock", raise_exception=True)
@require_GET
def stocktake_scan(request: AuthenticatedHttpRequest, pk: int) -> JsonResponse:
    """Which line(s) of this stock-take a scanned box (GS1 or a typed lot number) is, for the
    count page's scan field; the same parser as receiving and charting."""
    stock_take = _stock_take(request, pk)
    try:
        number, data = read_scan(request.GET.get("code", "")[:200])
    except GS1Error as exc:
        return JsonResponse({"lines": [], "error": f"The scan could not be read: {exc}"}, status=400)
    gtin = data.gtin if data else ""
    lines = [
        line
        for line in stock_take.lines.select_related("lot__product").filter(lot__lot_number__iexact=number)
        if _gtin_fits(line.lot, gtin)
    ]
    if not lines:
        addable = bool(_lots_in_scope(stock_take, number, gtin))
        hint = "add it below if it is on the shelf" if addable else "no such lot is recorded on these shelves"
        return JsonResponse(
            {"lines": [], "addable": addable, "error": f"Lot {number} is not on this count: {hint}."},
            status=404,
        )
    return JsonResponse({"lines": [line.pk for line in lines], "lot": lines[0].lot.lot_number})


def _lots_in_scope(stock_take: StockTake, number: str, gtin: str) -> list[Lot]:
    """Lots with this number on the stock-take's shelves (its unit, or its location)."""
    lots = Lot.objects.at([stock_take.location_id]).filter(lot_number__iexact=number)
    if stock_take.storage_unit_id:
        lots = lots.filter(storage_unit=stock_take.storage_unit_id)
    return [lot for lot in lots.select_related("product") if _gtin_fits(lot, gtin)]


def _add_lot(request: AuthenticatedHttpRequest, stock_take: StockTake, code: str) -> None:
    """Add a lot the list does not hold (found on the shelf with none on record, or received
    since the count started), by its lot number or a scan of its box; the outcome as a message."""
    try:
        number, data = read_scan(code[:200])
    except GS1Error as exc:
        messages.error(request, f"The scan could not be read: {exc}")
        return
    lots = _lots_in_scope(stock_take, number, data.gtin if data else "")
    listed = set(stock_take.lines.values_list("lot_id", flat=True))
    if len({lot.product_id for lot in lots}) == 1 and len(lots) > 1:
        # One lot kept in several units here (stock per place): add the place not listed yet.
        lots = [lot for lot in lots if lot.pk not in listed][:1] or lots[:1]
    if len(lots) != 1:
        where = stock_take.storage_unit.name if stock_take.storage_unit else stock_take.location.name
        messages.error(
            request,
            f"No lot {number} is recorded in {where}: receive it first."
            if not lots
            else f"Lot {number} is recorded for several products: scan the box's barcode instead.",
        )
        return
    try:
        services.stocktake_add_lot(stock_take=stock_take, actor=request.user, lot=lots[0])
    except ValidationError as exc:
        messages.error(request, error_text(exc))
    else:
        messages.success(request, f"Lot {lots[0].lot_number} added: count it below.")


@permission_required("products.move_stock", raise_exception=True)
@require_http_methods(["GET", "POST"])
def stocktake_review(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Expected against counted, a reason per difference, and the one button that posts it all."""
    stock_take = _stock_take(request, pk)
    if not stock_take.is_draft:
        return redirect("products:stocktake_detail", pk=stock_take.pk)
    lines = list(stock_take.lines.for_count())
    differing = [line for line in lines if line.difference]
    form = StockTakeReviewForm(request.POST or None, lines=differing)
    if request.method == "POST" and form.is_valid():
        try:
            services.stocktake_post(stock_take=stock_take, actor=request.user, reasons=form.reasons())
        except services.StockTakeChanged as exc:
            services.stocktake_recount(stock_take=stock_take, actor=request.user, reasons=form.reasons())
            messages.error(
                request,
                f"Nothing was posted. {error_text(exc)} The reasons given for the other lots are kept.",
            )
            return redirect("products:stocktake_count", pk=stock_take.pk)
        except ValidationError as exc:
            form.add_error(None, error_text(exc))
        else:
            messages.success(
                request, f"Stock-take posted: {len(differing)} adjustment(s) written to the ledger."
            )
            return redirect("products:stocktake_detail", pk=stock_take.pk)
    fields = {line.pk: form.field_for(line) for line in differing}
    rows = [(line, fields.get(line.pk)) for line in lines]
    for line in lines:
        line.changed = _changed(line)
    return render(
        request,
        "products/stocktake_review.html",
        {
            "stock_take": stock_take,
            "form": form,
            "groups": _by_unit(rows),
            "differing": differing,
            "uncounted": [line for line in lines if not line.is_counted],
            "changed": [line for line in lines if line.changed],
            "common_reasons": COMMON_REASONS,
            "cancel_form": StockTakeCancelForm(),
        },
    )


@permission_required("products.move_stock", raise_exception=True)
@require_POST
def stocktake_cancel(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    stock_take = _stock_take(request, pk)
    form = StockTakeCancelForm(request.POST)
    reason = form.cleaned_data["reason"] if form.is_valid() else ""
    try:
        services.stocktake_cancel(stock_take=stock_take, actor=request.user, reason=reason)
    except ValidationError as exc:
        messages.error(request, error_text(exc))
    else:
        messages.success(request, "Stock-take cancelled: nothing was posted.")
    return redirect("products:stocktake_detail", pk=stock_take.pk)


@permission_required("products.view_lot", raise_exception=True)
@require_GET
def stocktake_detail(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """The report: read-only and printable (what was expected, counted, and each adjustment)."""
    stock_take = _stock_take(request, pk)
    lines = list(stock_take.lines.for_count().select_related("counted_by"))
    rows = [(line, None) for line in lines]
    return render(
        request,
        "products/stocktake_detail.html",
        {
            "stock_take": stock_take,
            "groups": _by_unit(rows),
            "n_lines": len(lines),
            "n_counted": sum(1 for line in lines if line.is_counted),
            "differing": [line for line in lines if line.difference],
            "expected": sum(line.expected_quantity for line in lines),
            "counted": sum(line.counted_quantity or 0 for line in lines),
            "cancel_form": StockTakeCancelForm(),
        },
    )

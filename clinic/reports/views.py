"""Managers' dashboard, reports, exports and recall pages. Thin: scoped filters → query → render.

Every view needs ``clinic.view_reports`` (managers); the recall action also needs
``products.hold_stock`` and reviewing messages ``clinic.change_notification``. Data are
always narrowed to the manager's locations; a location, lot or unit outside them is a 404.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from clinic.exports import csv_response
from clinic.models import Notification
from clinic.reports import queries, recall, services
from clinic.reports.forms import (
    ColdChainForm,
    HeldMessageForm,
    PeriodForm,
    RecallRunForm,
    RecallSearchForm,
    RegisterPeriodForm,
    ScopeForm,
)
from clinic.reports.periods import period_bounds
from clinic.scoping import get_for_user_or_404, location_ids_for
from clinic.tables import paginate

VIEW = "clinic.view_reports"
CHUNK = 2000


def _bound(request: HttpRequest, form_class, **kwargs):
    """The filter form bound to the query string; a location outside the manager's is a 404."""
    form = form_class(request.GET or None, user=request.user, **kwargs)
    if form.is_bound and not form.is_valid() and "location" in form.errors:
        raise Http404("No such location.")
    return form


def _period(request: HttpRequest, form_class=PeriodForm):
    form = _bound(request, form_class)
    date_from, date_to = form.period()
    start, end = period_bounds(date_from, date_to)
    return form, form.locations(), date_from, date_to, start, end


def _stamp(date_from, date_to) -> str:
    return f"{date_from:%Y%m%d}-{date_to:%Y%m%d}"


# --- Dashboard ------------------------------------------------------------------------------


@permission_required(VIEW, raise_exception=True)
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    form = _bound(request, ScopeForm)
    data = queries.dashboard_data(form.locations())
    return render(request, "clinic/reports/dashboard.html", {"form": form, **data})


# --- Usage ----------------------------------------------------------------------------------


@permission_required(VIEW, raise_exception=True)
@require_GET
def usage(request: HttpRequest) -> HttpResponse:
    form, locations, date_from, date_to, start, end = _period(request)
    rows = [queries.usage_row(r) for r in queries.usage_rows(locations, start, end)]
    return render(
        request,
        "clinic/reports/usage.html",
        {
            "form": form,
            "rows": rows,
            "by_product": queries.usage_by_product(rows),
            "total_vials": sum(r["vials"] for r in rows),
            "total_value": sum((r["value"] or 0 for r in rows), 0),
            "date_from": date_from,
            "date_to": date_to,
        },
    )


@permission_required(VIEW, raise_exception=True)
@require_GET
def usage_export(request: HttpRequest) -> HttpResponse:
    _, locations, date_from, date_to, start, end = _period(request)
    rows = (
        (
            f"{r['month']:%Y-%m}",
            r["product"],
            r["practitioner"],
            r["used"],
            r["opened"],
            r["vials"],
            r["value"] if r["value"] is not None else "",
        )
        for r in map(queries.usage_row, queries.usage_rows(locations, start, end).iterator(chunk_size=CHUNK))
    )
    header = ["month", "product", "practitioner", "sealed_vials_used", "vials_opened", "vials", "value_gbp"]
    return csv_response(f"usage-{_stamp(date_from, date_to)}.csv", header, rows)


# --- Waste ----------------------------------------------------------------------------------


@permission_required(VIEW, raise_exception=True)
@require_GET
def waste(request: HttpRequest) -> HttpResponse:
    form, locations, date_from, date_to, start, end = _period(request)
    rows = queries.waste_rows(locations, start, end)
    totals = queries.waste_by_reason(rows)
    return render(
        request,
        "clinic/reports/waste.html",
        {
            "form": form,
            "rows": rows,
            "totals": totals,
            "total_value": sum((t["value"] for t in totals), 0),
            "chart": {
                "labels": [t["reason_label"] for t in totals],
                "values": [float(t["value"]) for t in totals],
            },
            "date_from": date_from,
            "date_to": date_to,
        },
    )


@permission_required(VIEW, raise_exception=True)
@require_GET
def waste_export(request: HttpRequest) -> HttpResponse:
    _, locations, date_from, date_to, start, end = _period(request)
    # Already aggregated per reason and product (a few hundred rows at most), then streamed.
    rows = (
        (
            r["reason"],
            r["reason_label"],
            r["product"],
            r["sealed_vials"],
            r["sealed_value"],
            r["opened_vials"],
            r["opened_ml"],
            r["opened_value"],
            r["value"],
        )
        for r in queries.waste_rows(locations, start, end)
    )
    header = [
        "reason",
        "reason_label",
        "product",
        "sealed_vials",
        "sealed_value_gbp",
        "opened_vials_discarded",
        "opened_ml_discarded",
        "opened_value_gbp",
        "value_gbp",
    ]
    return csv_response(f"waste-{_stamp(date_from, date_to)}.csv", header, rows)


# --- Stock valuation ------------------------------------------------------------------------


@permission_required(VIEW, raise_exception=True)
@require_GET
def valuation(request: HttpRequest) -> HttpResponse:
    form = _bound(request, ScopeForm)
    rows = [{**r, "held": r["on_hand"] - r["usable"]} for r in queries.valuation_rows(form.locations())]
    return render(
        request,
        "clinic/reports/valuation.html",
        {
            "form": form,
            "rows": rows,
            "total_value": sum((r["value"] or 0 for r in rows), 0),
            "total_usable_value": sum((r["usable_value"] or 0 for r in rows), 0),
            "total_on_hand": sum(r["on_hand"] for r in rows),
        },
    )


@permission_required(VIEW, raise_exception=True)
@require_GET
def valuation_export(request: HttpRequest) -> HttpResponse:
    form = _bound(request, ScopeForm)
    rows = (
        (
            r["storage_unit__location__name"],
            r["product__name"],
            r["lots"],
            r["on_hand"],
            r["usable"],
            r["on_hand"] - r["usable"],
            r["open_vials"],
            r["product__unit_cost"] if r["product__unit_cost"] is not None else "",
            r["value"] if r["value"] is not None else "",
            r["usable_value"] if r["usable_value"] is not None else "",
        )
        for r in queries.valuation_rows(form.locations()).iterator(chunk_size=CHUNK)
    )
    header = [
        "location",
        "product",
        "lots",
        "on_hand",
        "usable",
        "held_or_expired",
        "open_vials",
        "unit_cost_gbp",
        "value_gbp",
        "usable_value_gbp",
    ]
    return csv_response("stock-valuation.csv", header, rows)


# --- Cold chain (monthly, per unit) ---------------------------------------------------------


def _coldchain(request: HttpRequest):
    form = ColdChainForm(request.GET or None, user=request.user)
    if not form.is_bound:
        return form, None, None
    if not form.is_valid():
        if "unit" in form.errors and request.GET.get("unit"):
            raise Http404("No such storage unit.")
        return form, None, None
    return form, form.cleaned_data["unit"], form.cleaned_data["month"]


@permission_required(VIEW, raise_exception=True)
@require_GET
def coldchain(request: HttpRequest) -> HttpResponse:
    form, unit, month = _coldchain(request)
    context = {"form": form, "unit": unit, "month": month}
    if unit is not None:
        days = queries.coldchain_days(unit, month)
        context.update(
            days=days,
            excursions=queries.coldchain_excursions(unit, month),
            out_days=sum(1 for d in days if d["out_of_range"]),
            empty_days=sum(1 for d in days if not d["n"]),
            chart={
                "labels": [d["day"].strftime("%d") for d in days],
                "lo": [float(d["lo"]) if d["lo"] is not None else None for d in days],
                "hi": [float(d["hi"]) if d["hi"] is not None else None for d in days],
                "min_c": float(unit.min_c),
                "max_c": float(unit.max_c),
            },
        )
    return render(request, "clinic/reports/coldchain.html", context)


@permission_required(VIEW, raise_exception=True)
@require_GET
def coldchain_export(request: HttpRequest) -> HttpResponse:
    _, unit, month = _coldchain(request)
    if unit is None:
        raise Http404("Choose a storage unit and a month.")
    rows = (
        (
            d["day"].isoformat(),
            d["lo"] if d["lo"] is not None else "",
            d["hi"] if d["hi"] is not None else "",
            d["n"],
            d["manual"],
            "yes" if d["out_of_range"] else "no",
        )
        for d in queries.coldchain_days(unit, month)
    )
    header = ["day", "min_c", "max_c", "readings", "manual_checks", "out_of_range"]
    name = f"cold-chain-{unit.location.code}-{unit.pk}-{month:%Y-%m}.csv"
    return csv_response(name, header, rows)


# --- Treatment register ---------------------------------------------------------------------


def _register_rows(request: HttpRequest):
    from clinic.reports.register import register_rows

    form, locations, date_from, date_to, start, end = _period(request, RegisterPeriodForm)
    return form, register_rows(locations, start, end), date_from, date_to


@permission_required(VIEW, raise_exception=True)
@require_GET
def register(request: HttpRequest) -> HttpResponse:
    from clinic.reports.register import register_row

    form, qs, date_from, date_to = _register_rows(request)
    page = paginate(request, qs, per_page=100)
    page.object_list = [register_row(r) for r in page.object_list]
    return render(
        request,
        "clinic/reports/register.html",
        {"form": form, "page": page, "date_from": date_from, "date_to": date_to},
    )


@permission_required(VIEW, raise_exception=True)
@require_GET
def register_export(request: HttpRequest) -> HttpResponse:
    from clinic.reports.register import REGISTER_HEADER, register_csv_row

    _, qs, date_from, date_to = _register_rows(request)
    rows = (register_csv_row(r) for r in qs.iterator(chunk_size=CHUNK))
    return csv_response(f"treatment-register-{_stamp(date_from, date_to)}.csv", REGISTER_HEADER, rows)


# --- Recall ---------------------------------------------------------------------------------


@permission_required(VIEW, raise_exception=True)
@require_GET
def recall_index(request: HttpRequest) -> HttpResponse:
    """Find a lot by number, or list patients treated with a product over a period."""
    from products.models import Lot

    number = request.GET.get("lot", "").strip()
    lots = []
    if number:
        lots = list(
            Lot.objects.for_user(request.user)
            .select_related("product", "storage_unit__location")
            .filter(lot_number__icontains=number)
            .order_by("product__name", "lot_number")[:50]
        )
    recalled = list(
        Lot.objects.for_user(request.user)
        .filter(is_recalled=True)
        .select_related("product", "storage_unit__location")
        .order_by("-id")[:20]
    )
    search = (
        _bound(request, RecallSearchForm) if "product" in request.GET else RecallSearchForm(user=request.user)
    )
    page = None
    if search.is_bound and search.is_valid():
        d = search.cleaned_data
        qs = recall.treated_with(
            product=d["product"], date_from=d["date_from"], date_to=d["date_to"], locations=search.locations()
        )
        page = paginate(request, qs, per_page=100)
        page.object_list = [recall.line_display(r) for r in page.object_list]
    return render(
        request,
        "clinic/reports/recall_index.html",
        {"lot_query": number, "lots": lots, "recalled": recalled, "search": search, "page": page},
    )


@permission_required(VIEW, raise_exception=True)
@require_GET
def recall_search_export(request: HttpRequest) -> HttpResponse:
    search = _bound(request, RecallSearchForm)
    if not search.is_valid():
        raise Http404("Choose a product and a period.")
    d = search.cleaned_data
    qs = recall.treated_with(
        product=d["product"], date_from=d["date_from"], date_to=d["date_to"], locations=search.locations()
    )
    name = f"recall-product-{d['product'].pk}-{_stamp(d['date_from'], d['date_to'])}.csv"
    return csv_response(name, RECALL_HEADER, (_csv_line(r) for r in qs.iterator(chunk_size=CHUNK)))


def _lot(request: HttpRequest, pk: int):
    from products.models import Lot

    return get_for_user_or_404(
        Lot.objects.select_related("product", "storage_unit__location"), request.user, pk=pk
    )


RECALL_HEADER = [
    "session_date",
    "location",
    "patient",
    "date_of_birth",
    "phone",
    "email",
    "practitioner",
    "product",
    "lot",
    "amount",
    "volume_ml",
    "route",
    "areas",
    "patient_id",
]


def _csv_line(r: dict) -> tuple:
    from django.utils import timezone

    line = recall.line_display(r)
    return (
        timezone.localtime(r["record__session__starts_at"]).strftime("%Y-%m-%d %H:%M"),
        r["record__session__location__name"],
        line["patient"],
        r["patient_dob"].isoformat() if r["patient_dob"] else "",
        r["patient_phone"],
        r["patient_email"],
        line["practitioner"],
        r["lot__product__name"],
        r["lot__lot_number"],
        line["amount"],
        r["volume_ml"],
        line["route_label"],
        line["area_labels"],
        r["patient_id"],
    )


@permission_required(VIEW, raise_exception=True)
@require_GET
def recall_lot(request: HttpRequest, pk: int) -> HttpResponse:
    lot = _lot(request, pk)
    locations = location_ids_for(request.user)
    page = paginate(request, recall.treated_with(lot=lot, locations=locations), per_page=100)
    page.object_list = [recall.line_display(r) for r in page.object_list]
    counts = recall.treated_count(lot=lot, locations=locations)
    held = services.held_for_lot(lot, locations).count()
    return render(
        request,
        "clinic/reports/recall_lot.html",
        {
            "lot": lot,
            "page": page,
            "counts": counts,
            "elsewhere": recall.outside_scope_count(lot=lot, locations=locations),
            "held": held,
            "form": RecallRunForm(initial={"reason": lot.hold_reason if lot.is_recalled else ""}),
        },
    )


@permission_required(VIEW, raise_exception=True)
@require_GET
def recall_lot_export(request: HttpRequest, pk: int) -> HttpResponse:
    lot = _lot(request, pk)
    qs = recall.treated_with(lot=lot, locations=location_ids_for(request.user))
    name = f"recall-{lot.product.name}-{lot.lot_number}.csv".replace(" ", "-").replace("/", "-")
    return csv_response(name, RECALL_HEADER, (_csv_line(r) for r in qs.iterator(chunk_size=CHUNK)))


@permission_required(VIEW, raise_exception=True)
@permission_required("products.hold_stock", raise_exception=True)
@require_POST
def recall_lot_run(request: HttpRequest, pk: int) -> HttpResponse:
    lot = _lot(request, pk)
    form = RecallRunForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Give the recall reason and tick the confirmation to recall the lot.")
        return redirect("reports:recall_lot", pk=lot.pk)
    try:
        result = services.lot_recall_prepare(lot=lot, actor=request.user, reason=form.cleaned_data["reason"])
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("reports:recall_lot", pk=lot.pk)
    text = f"Lot {lot.lot_number} is recalled. " if result["recalled_now"] else ""
    text += f"{result['prepared']} message(s) prepared for review; nothing is sent until you send them."
    if result["unreachable"]:
        text += f" {len(result['unreachable'])} patient(s) have no email or phone: contact them another way."
    messages.success(request, text)
    return redirect("reports:recall_messages", pk=lot.pk)


@permission_required(VIEW, raise_exception=True)
@permission_required("clinic.change_notification", raise_exception=True)
@require_GET
def recall_messages(request: HttpRequest, pk: int) -> HttpResponse:
    lot = _lot(request, pk)
    locations = location_ids_for(request.user)
    held = paginate(request, services.held_for_lot(lot, locations).order_by("pk"), per_page=50)
    rows = [
        {"n": n, "form": HeldMessageForm(initial={"subject": n.subject, "body": n.body}, prefix=f"m{n.pk}")}
        for n in held.object_list
    ]
    sent = (
        Notification.objects.filter(
            dedupe_key__startswith=services.recall_prefix(lot), location__in=locations
        )
        .exclude(status=Notification.Status.HELD)
        .values("status")
        .order_by("status")
    )
    from django.db.models import Count

    return render(
        request,
        "clinic/reports/recall_messages.html",
        {
            "lot": lot,
            "page": held,
            "rows": rows,
            "after_review": list(sent.annotate(n=Count("id"))),
        },
    )


def _held_message(request: HttpRequest, lot, message_pk: int) -> Notification:
    return get_object_or_404(services.held_for_lot(lot, location_ids_for(request.user)), pk=message_pk)


@permission_required(VIEW, raise_exception=True)
@permission_required("clinic.change_notification", raise_exception=True)
@require_POST
def recall_message_edit(request: HttpRequest, pk: int, message_pk: int) -> HttpResponse:
    from clinic.outbox import notification_edit_held

    lot = _lot(request, pk)
    notification = _held_message(request, lot, message_pk)
    form = HeldMessageForm(request.POST, prefix=f"m{notification.pk}")
    if form.is_valid():
        try:
            notification_edit_held(
                notification=notification,
                actor=request.user,
                subject=form.cleaned_data["subject"],
                body=form.cleaned_data["body"],
            )
            messages.success(request, f"The message to {notification.to_address} is updated.")
        except ValueError as exc:
            messages.error(request, str(exc))
    else:
        messages.error(request, "A message needs a subject and a text.")
    return redirect("reports:recall_messages", pk=lot.pk)


@permission_required(VIEW, raise_exception=True)
@permission_required("clinic.change_notification", raise_exception=True)
@require_POST
def recall_message_cancel(request: HttpRequest, pk: int, message_pk: int) -> HttpResponse:
    lot = _lot(request, pk)
    notification = _held_message(request, lot, message_pk)
    services.recall_message_cancel(notification=notification, actor=request.user)
    messages.success(request, f"The message to {notification.to_address} is cancelled.")
    return redirect("reports:recall_messages", pk=lot.pk)


@permission_required(VIEW, raise_exception=True)
@permission_required("clinic.change_notification", raise_exception=True)
@require_POST
def recall_messages_send(request: HttpRequest, pk: int) -> HttpResponse:
    lot = _lot(request, pk)
    count = services.recall_messages_send(
        lot=lot, actor=request.user, locations=location_ids_for(request.user)
    )
    messages.success(
        request,
        f"{count} reviewed message(s) are in the outbox and go out now (patients' messages wait "
        "for the morning during quiet hours).",
    )
    return redirect("reports:recall_messages", pk=lot.pk)

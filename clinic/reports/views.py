"""Managers' dashboard, reports, exports and recall pages. Thin: scoped filters → query → render.

Every view needs ``clinic.view_reports`` (managers); the recall action also needs
``products.hold_stock`` and reviewing messages ``clinic.change_notification``. Data are
always narrowed to the manager's locations; a location, lot or unit outside them is a 404.
"""

from __future__ import annotations

from django.contrib.auth.decorators import permission_required
from django.http import Http404, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.views.decorators.http import require_GET

from clinic.audit import AuditAction, audit_record
from clinic.exports import csv_response
from clinic.reports import coldchain as coldchain_report
from clinic.reports import queries
from clinic.reports.forms import (
    ColdChainForm,
    PeriodForm,
    RegisterPeriodForm,
    ScopeForm,
)
from clinic.reports.periods import period_bounds
from clinic.scoping import AuthenticatedHttpRequest
from clinic.tables import paginate

VIEW = "clinic.view_reports"
CHUNK = 2000


def bound_filter_form(request: AuthenticatedHttpRequest, form_class, **kwargs):
    """The filter form bound to the query string; a location outside the manager's is a 404."""
    form = form_class(request.GET or None, user=request.user, **kwargs)
    if form.is_bound and not form.is_valid() and "location" in form.errors:
        raise Http404("No such location.")
    return form


def _period(request: AuthenticatedHttpRequest, form_class=PeriodForm):
    form = bound_filter_form(request, form_class)
    date_from, date_to = form.period()
    start, end = period_bounds(date_from, date_to)
    return form, form.locations(), date_from, date_to, start, end


def period_stamp(date_from, date_to) -> str:
    return f"{date_from:%Y%m%d}-{date_to:%Y%m%d}"


# --- Dashboard ------------------------------------------------------------------------------


@permission_required(VIEW, raise_exception=True)
@require_GET
def dashboard(request: AuthenticatedHttpRequest) -> HttpResponse:
    form = bound_filter_form(request, ScopeForm)
    data = queries.dashboard_data(form.locations())
    return render(request, "clinic/reports/dashboard.html", {"form": form, **data})


# --- Usage ----------------------------------------------------------------------------------


@permission_required(VIEW, raise_exception=True)
@require_GET
def usage(request: AuthenticatedHttpRequest) -> HttpResponse:
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
def usage_export(request: AuthenticatedHttpRequest) -> HttpResponseBase:
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
    return csv_response(f"usage-{period_stamp(date_from, date_to)}.csv", header, rows)


# --- Waste ----------------------------------------------------------------------------------


@permission_required(VIEW, raise_exception=True)
@require_GET
def waste(request: AuthenticatedHttpRequest) -> HttpResponse:
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
def waste_export(request: AuthenticatedHttpRequest) -> HttpResponseBase:
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
    return csv_response(f"waste-{period_stamp(date_from, date_to)}.csv", header, rows)


# --- Stock valuation ------------------------------------------------------------------------


@permission_required(VIEW, raise_exception=True)
@require_GET
def valuation(request: AuthenticatedHttpRequest) -> HttpResponse:
    form = bound_filter_form(request, ScopeForm)
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
def valuation_export(request: AuthenticatedHttpRequest) -> HttpResponseBase:
    form = bound_filter_form(request, ScopeForm)
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


def _coldchain(request: AuthenticatedHttpRequest):
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
def coldchain(request: AuthenticatedHttpRequest) -> HttpResponse:
    form, unit, month = _coldchain(request)
    context = {"form": form, "unit": unit, "month": month}
    if unit is not None:
        interval, gaps = coldchain_report.coldchain_gaps(unit, month)
        days = coldchain_report.coldchain_days(unit, month, gaps=gaps)
        context.update(
            days=days,
            gaps=gaps,
            gap_minutes=sum(d["gap_minutes"] for d in days),
            logger_interval=interval,
            excursions=coldchain_report.coldchain_excursions(unit, month),
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
def coldchain_export(request: AuthenticatedHttpRequest) -> HttpResponseBase:
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
            d["gap_minutes"],
        )
        for d in coldchain_report.coldchain_days(unit, month)
    )
    header = ["day", "min_c", "max_c", "readings", "manual_checks", "out_of_range", "logger_gap_minutes"]
    name = f"cold-chain-{unit.location.code}-{unit.pk}-{month:%Y-%m}.csv"
    return csv_response(name, header, rows)


# --- Treatment register ---------------------------------------------------------------------


def _register_rows(request: AuthenticatedHttpRequest):
    from clinic.reports.register import register_rows

    form, locations, date_from, date_to, start, end = _period(request, RegisterPeriodForm)
    return form, register_rows(locations, start, end), date_from, date_to


@permission_required(VIEW, raise_exception=True)
@require_GET
def register(request: AuthenticatedHttpRequest) -> HttpResponse:
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
def register_export(request: AuthenticatedHttpRequest) -> HttpResponseBase:
    from clinic.reports.register import REGISTER_HEADER, register_csv_row

    _, qs, date_from, date_to = _register_rows(request)
    # Patients' names and treatments leave the site: who took them, and which, is recorded.
    audit_record(
        actor=request.user,
        action=AuditAction.REPORT_REGISTER_EXPORT,
        object_type="treatments.productline",
        object_repr=f"Treatment register {date_from:%Y-%m-%d} to {date_to:%Y-%m-%d}",
        after={"query": request.GET.urlencode()},
    )
    rows = (register_csv_row(r) for r in qs.iterator(chunk_size=CHUNK))
    return csv_response(f"treatment-register-{period_stamp(date_from, date_to)}.csv", REGISTER_HEADER, rows)

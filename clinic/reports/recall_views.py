"""Recall pages: look-ups by lot or by product and period, the recall action, and the review
of the patients' messages before they are sent. Managers only (``clinic.view_reports``); the
action also needs ``products.hold_stock``, the review ``clinic.change_notification``.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import Http404, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.text import slugify
from django.views.decorators.http import require_GET, require_POST

from clinic.audit import AuditAction, audit_record
from clinic.exports import csv_response
from clinic.forms import error_text
from clinic.models import Notification
from clinic.phones import phone_national
from clinic.reports import recall, services
from clinic.reports.forms import HeldMessageForm, RecallRunForm, RecallSearchForm
from clinic.reports.views import CHUNK, VIEW, bound_filter_form, period_stamp
from clinic.scoping import AuthenticatedHttpRequest, get_for_user_or_404, location_ids_for
from clinic.tables import paginate

# --- Recall ---------------------------------------------------------------------------------


@permission_required(VIEW, raise_exception=True)
@require_GET
def recall_index(request: AuthenticatedHttpRequest) -> HttpResponse:
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
    if "product" in request.GET:
        search = bound_filter_form(request, RecallSearchForm)
    else:
        search = RecallSearchForm(user=request.user)
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
        {
            "lot_query": number,
            "lots": lots,
            "recalled": recalled,
            "search": search,
            "page": page,
            "awaiting": services.awaiting_review(location_ids_for(request.user)),
        },
    )


@permission_required(VIEW, raise_exception=True)
@require_GET
def recall_search_export(request: AuthenticatedHttpRequest) -> HttpResponseBase:
    search = bound_filter_form(request, RecallSearchForm)
    if not search.is_valid():
        raise Http404("Choose a product and a period.")
    d = search.cleaned_data
    qs = recall.treated_with(
        product=d["product"], date_from=d["date_from"], date_to=d["date_to"], locations=search.locations()
    )
    name = f"recall-product-{d['product'].pk}-{period_stamp(d['date_from'], d['date_to'])}.csv"
    audit_record(
        actor=request.user,
        action=AuditAction.RECALL_EXPORT,
        obj=d["product"],
        after={"query": request.GET.urlencode()},
    )
    return csv_response(name, RECALL_HEADER, (_csv_line(r) for r in qs.iterator(chunk_size=CHUNK)))


def _lot(request: AuthenticatedHttpRequest, pk: int):
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
    line = recall.line_display(r)
    return (
        timezone.localtime(r["record__session__starts_at"]).strftime("%Y-%m-%d %H:%M"),
        r["record__session__location__name"],
        line["patient"],
        r["patient_dob"].isoformat() if r["patient_dob"] else "",
        phone_national(r["patient_phone"] or ""),  # "+44…" would read as a formula
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
def recall_lot(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    lot = _lot(request, pk)
    locations = location_ids_for(request.user)
    with recall.index_friendly_plans():
        counts = recall.treated_counts(lot=lot, locations=locations)
        paginator = Paginator(recall.treated_with(lot=lot, locations=locations), 100)
        paginator.count = counts["lines"]  # known from the counts query: no second COUNT
        page = paginator.get_page(request.GET.get("page"))
        page.object_list = [recall.line_display(r) for r in page.object_list]
    return render(
        request,
        "clinic/reports/recall_lot.html",
        {
            "lot": lot,
            "page": page,
            "counts": counts,
            "elsewhere": counts["elsewhere"],
            "held": services.held_for_lot(lot, locations).count(),
            "form": RecallRunForm(initial={"reason": lot.hold_reason if lot.is_recalled else ""}),
        },
    )


@permission_required(VIEW, raise_exception=True)
@require_GET
def recall_lot_export(request: AuthenticatedHttpRequest, pk: int) -> HttpResponseBase:
    lot = _lot(request, pk)
    qs = recall.treated_with(lot=lot, locations=location_ids_for(request.user))
    name = f"recall-{slugify(lot.product.name)}-{slugify(lot.lot_number)}.csv"
    # Patients' contact details leave the site: who exported them, and for which lot, is recorded.
    audit_record(
        actor=request.user, action=AuditAction.RECALL_EXPORT, obj=lot, location=lot.storage_unit.location
    )
    return csv_response(name, RECALL_HEADER, (_csv_line(r) for r in qs.iterator(chunk_size=CHUNK)))


@permission_required(VIEW, raise_exception=True)
@permission_required("products.hold_stock", raise_exception=True)
@require_POST
def recall_lot_run(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    lot = _lot(request, pk)
    form = RecallRunForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Give the recall reason and tick the confirmation to recall the lot.")
        return redirect("reports:recall_lot", pk=lot.pk)
    try:
        result = services.lot_recall_prepare(lot=lot, actor=request.user, reason=form.cleaned_data["reason"])
    except ValidationError as exc:
        messages.error(request, error_text(exc))
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
def recall_messages(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    lot = _lot_for_review(request, pk)
    locations = location_ids_for(request.user)
    held = paginate(
        request, services.held_for_lot(lot, locations).select_related("location").order_by("pk"), per_page=50
    )
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


def _lot_for_review(request: AuthenticatedHttpRequest, pk: int):
    """The lot whose recall messages the manager reviews: a lot at their locations, or one
    whose recall wrote to patients of their locations (it may be kept elsewhere). Else 404."""
    from products.models import Lot

    lot = get_object_or_404(Lot.objects.select_related("product", "storage_unit__location"), pk=pk)
    locations = location_ids_for(request.user)
    if not Lot.objects.for_user(request.user).filter(pk=lot.pk).exists() and not services.has_recall_messages(
        lot.record_lot_id, locations
    ):
        raise Http404("No lot found.")
    return lot


def _held_message(request: AuthenticatedHttpRequest, lot, message_pk: int) -> Notification:
    return get_object_or_404(services.held_for_lot(lot, location_ids_for(request.user)), pk=message_pk)


@permission_required(VIEW, raise_exception=True)
@permission_required("clinic.change_notification", raise_exception=True)
@require_POST
def recall_message_edit(request: AuthenticatedHttpRequest, pk: int, message_pk: int) -> HttpResponse:
    from clinic.notifications import notification_edit_held

    lot = _lot_for_review(request, pk)
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
def recall_message_cancel(request: AuthenticatedHttpRequest, pk: int, message_pk: int) -> HttpResponse:
    lot = _lot_for_review(request, pk)
    notification = _held_message(request, lot, message_pk)
    services.recall_message_cancel(notification=notification, actor=request.user)
    messages.success(request, f"The message to {notification.to_address} is cancelled.")
    return redirect("reports:recall_messages", pk=lot.pk)


@permission_required(VIEW, raise_exception=True)
@permission_required("clinic.change_notification", raise_exception=True)
@require_POST
def recall_messages_send(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    lot = _lot_for_review(request, pk)
    count = services.recall_messages_send(
        lot=lot, actor=request.user, locations=location_ids_for(request.user)
    )
    messages.success(
        request,
        f"{count} reviewed message(s) are in the outbox and go out now (patients' messages wait "
        "for the morning during quiet hours).",
    )
    return redirect("reports:recall_messages", pk=lot.pk)

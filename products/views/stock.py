"""Stock pages: overview per product, lots, receiving, stock actions and opened vials."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import BooleanField, Count, ExpressionWrapper, Min, Q, Sum
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from clinic.dashboard import sections_for
from clinic.forms import error_text, parse_id
from clinic.scoping import get_for_user_or_404, locations_for
from clinic.tables import paginate, sort_queryset
from products import services
from products.compliance import lot_clearance_problems
from products.forms import (
    AdjustForm,
    ReasonForm,
    ReceiveCertificateForm,
    ReceiveForm,
    StockFilterForm,
    TransferForm,
    VialDiscardForm,
    VialDrawForm,
    WasteForm,
)
from products.gs1 import GS1Error, parse_gs1
from products.models import (
    Lot,
    LotStatus,
    OpenedVial,
    Product,
    RegulatoryDocument,
    ReorderLevel,
    StockMovement,
    StorageUnit,
)
from products.models.stock import STATUS_TONES, usable_condition

if TYPE_CHECKING:
    from django.contrib.auth.models import User


def _units(user):
    return StorageUnit.objects.for_user(user).filter(is_active=True).select_related("location")


# Sorts of the stock overview: name and format in SQL (the database's collation), the figures
# per product in Python over the (short) catalogue, ties by id as ``sort_queryset`` breaks them.
STOCK_SORTS = {"name": "name", "format": "format", "on_hand": "pk", "expiry": "pk"}
STOCK_FIGURES = {
    "on_hand": 0,
    "usable_on_hand": 0,
    "nearest_expiry": None,
    "n_expiring": 0,
    "n_expired": 0,
    "n_quarantined": 0,
    "n_recalled": 0,
    "n_open_vials": 0,
}


STATUS_COUNTS = {
    LotStatus.EXPIRING_SOON: "n_expiring",
    LotStatus.EXPIRED: "n_expired",
    LotStatus.QUARANTINED: "n_quarantined",
    LotStatus.RECALLED: "n_recalled",
}


def stock_figures(lots, vials) -> dict[int, dict]:
    """Per product: the overview's figures, from one grouped query over the lots in stock and
    one over open vials. The lots are grouped by product, status (``with_status``) and whether
    they are usable (``usable_condition``, evaluated once per lot as a grouping key): a few rows
    per product, folded here, so no figure re-evaluates the rule in a FILTER of its own."""
    groups = (
        lots.in_stock()
        .with_status()
        .annotate(is_usable=ExpressionWrapper(usable_condition(bulk=True), output_field=BooleanField()))
        .order_by()
        .values("product_id", "status_code", "is_usable")
        .annotate(on_hand=Sum("quantity_on_hand"), lots=Count("pk"), nearest=Min("expiry_date"))
    )
    figures: dict[int, dict] = {}
    for row in groups:
        f = figures.setdefault(row["product_id"], dict(STOCK_FIGURES))
        f["on_hand"] += row["on_hand"]
        if row["is_usable"]:
            f["usable_on_hand"] += row["on_hand"]
            if f["nearest_expiry"] is None or row["nearest"] < f["nearest_expiry"]:
                f["nearest_expiry"] = row["nearest"]
        if row["status_code"] in STATUS_COUNTS:
            f[STATUS_COUNTS[row["status_code"]]] += row["lots"]
    for row in vials.order_by().values("lot__product").annotate(n=Count("pk")):
        figures.setdefault(row["lot__product"], dict(STOCK_FIGURES))["n_open_vials"] = row["n"]
    return figures


def _mark_low_stock(user, page, location) -> None:
    """Reorder levels below their minimum (``ReorderLevel.objects.low()``) for the products on
    the page, as ``low_levels`` on each: one query, apart from the stock annotations."""
    ids = [p.pk for p in page]
    low: dict[int, list[ReorderLevel]] = {}
    if ids:
        levels = ReorderLevel.objects.for_user(user).low().filter(product_id__in=ids)
        if location:
            levels = levels.filter(location=location)
        for level in levels.select_related("location").order_by("location__name"):
            low.setdefault(level.product_id, []).append(level)
    for p in page:
        p.low_levels = low.get(p.pk, [])


@permission_required("products.view_lot", raise_exception=True)
@require_GET
def stock_overview(request: HttpRequest) -> HttpResponse:
    """On hand per product, open vials, nearest usable expiry and status counts."""
    user = request.user
    form = StockFilterForm(request.GET or None, locations=locations_for(user))
    lots = Lot.objects.for_user(user)
    products = Product.objects.active()
    if form.is_valid():
        if form.cleaned_data["location"]:
            lots = lots.filter(storage_unit__location=form.cleaned_data["location"])
        if form.cleaned_data["format"]:
            products = products.filter(format=form.cleaned_data["format"])
        if form.cleaned_data["status"]:
            products = products.filter(pk__in=lots.in_status(form.cleaned_data["status"]).values("product"))
    vials = OpenedVial.objects.for_user(user).still_open()
    products, sort = sort_queryset(request, products, STOCK_SORTS, "name")
    figures = stock_figures(lots, vials)
    rows = list(products)
    for product in rows:
        product.__dict__.update(figures.get(product.pk, STOCK_FIGURES))
    key = sort.lstrip("-")
    if key in ("on_hand", "expiry"):
        # As PostgreSQL orders: no expiry (nothing usable) last going up, first going down.
        field = "on_hand" if key == "on_hand" else "nearest_expiry"
        rows.sort(
            key=lambda p: (getattr(p, field) is None, getattr(p, field) or 0),
            reverse=sort.startswith("-"),
        )
    page = paginate(request, rows)
    _mark_low_stock(user, page, form.cleaned_data.get("location") if form.is_valid() else None)
    return render(
        request,
        "products/stock_overview.html",
        {
            "form": form,
            "page": page,
            "sort": sort,
            "vials": vials.select_related("lot__product", "lot__storage_unit__location").order_by(
                "beyond_use_at"
            )[:50],
            "tones": STATUS_TONES,
        },
    )


@permission_required("products.view_lot", raise_exception=True)
@require_GET
def lot_list(request: HttpRequest) -> HttpResponse:
    user = request.user
    qs = (
        Lot.objects.for_user(user)
        .with_status()
        .with_clearance()
        .select_related("product", "storage_unit__location")
    )
    form = StockFilterForm(request.GET or None, locations=locations_for(user))
    product = None
    product_id = parse_id(request.GET.get("product", ""))
    if product_id is not None:
        product = Product.objects.filter(pk=product_id).first()
        qs = qs.filter(product=product) if product else qs.none()
    if form.is_valid():
        d = form.cleaned_data
        if d["location"]:
            qs = qs.filter(storage_unit__location=d["location"])
        if d["format"]:
            qs = qs.filter(product__format=d["format"])
        if d["status"]:
            qs = qs.filter(status_code=d["status"])
    if request.GET.get("usable"):
        qs = qs.usable()
    query = request.GET.get("q", "").strip()
    if query:
        qs = qs.filter(Q(lot_number__icontains=query) | Q(product__name__icontains=query))
    qs, sort = sort_queryset(
        request,
        qs,
        {
            "expiry": "expiry_date",
            "lot": "lot_number",
            "product": "product__name",
            "on_hand": "quantity_on_hand",
            "received": "received_on",
            "unit": "storage_unit__name",
        },
        "expiry",
    )
    return render(
        request,
        "products/lot_list.html",
        {"form": form, "page": paginate(request, qs), "sort": sort, "product": product, "q": query},
    )


@permission_required("products.view_lot", raise_exception=True)
@require_GET
def lot_detail(request: HttpRequest, pk: int) -> HttpResponse:
    lot = get_for_user_or_404(
        Lot.objects.select_related("product", "storage_unit__location", "received_by"), request.user, pk=pk
    )
    movements = list(
        StockMovement.objects.filter(lot=lot)
        .select_related("actor", "from_unit", "to_unit")
        .order_by("created_at", "id")
    )
    status_kinds = {"quarantine", "release", "recall", "transfer", "transfer_out", "transfer_in", "received"}
    vials = (
        OpenedVial.objects.filter(lot=lot)
        .select_related("opened_by")
        .annotate(n_draws=Count("draws"))
        .order_by("-opened_at")
    )
    excursions = list(
        lot.excursions.select_related("excursion__storage_unit").order_by("-excursion__started_at")
    )
    documents = list(
        RegulatoryDocument.objects.filter(lot_id=lot.record_lot_id)
        .select_related("uploaded_by", "superseded_by")
        .order_by("doc_type", "-uploaded_at", "-pk")
    )
    clearance_problems = lot_clearance_problems(lot)
    lot.is_cleared = not clearance_problems  # the status badge says "Not cleared", not "Available"
    places = list(lot.family().select_related("storage_unit__location").order_by("pk"))
    if len(places) > 1:
        visible = Lot.objects.for_user(request.user).filter(pk__in=[p.pk for p in places])
        mine = set(visible.values_list("pk", flat=True))
        for place in places:
            place.is_visible = place.pk in mine
    return render(
        request,
        "products/lot_detail.html",
        {
            "lot": lot,
            "movements": movements,
            "history": [m for m in movements if m.kind in status_kinds],
            "vials": vials,
            "excursions": excursions,
            "exposure_minutes": sum(item.exposed_minutes for item in excursions),
            "documents": [d for d in documents if d.superseded_by_id is None],
            "superseded_documents": [d for d in documents if d.superseded_by_id is not None],
            "clearance_problems": clearance_problems,
            "places": places if len(places) > 1 else [],
            "sections": sections_for("products.lot", request.user, lot),
        },
    )


def _receive_choices(user):
    return Product.objects.active().order_by("name"), _units(user)


@permission_required("products.receive_stock", raise_exception=True)
@require_http_methods(["GET", "POST"])
def lot_receive(request: HttpRequest) -> HttpResponse:
    products, units = _receive_choices(request.user)
    form = ReceiveForm(request.POST or None, products=products, units=units)
    # Who may file regulatory documents may hand in the certificate with the delivery.
    coa_form = None
    if request.user.has_perm("products.add_regulatorydocument"):
        coa_form = ReceiveCertificateForm(request.POST or None, request.FILES or None)
    coa_valid = coa_form is None or coa_form.is_valid()
    if request.method == "POST" and form.is_valid() and coa_valid:
        d = form.cleaned_data
        c = coa_form.cleaned_data if coa_form is not None else {}
        receive = services.lot_receive
        if c.get("file"):
            certificate = services.Certificate(
                upload=c["file"],
                issuer=c["issuer"],
                reference=c["reference"],
                issued_on=c["issued_on"],
                expires_on=c["expires_on"],
            )
            receive = functools.partial(services.lot_receive_with_certificate, certificate=certificate)
        try:
            lot = receive(
                actor=request.user,
                product=d["product"],
                lot_number=d["lot_number"],
                expiry_date=d["expiry_date"],
                quantity=d["quantity"],
                storage_unit=d["storage_unit"],
                manufactured_on=d["manufactured_on"],
                gtin=d["gtin"],
                serial=d["serial"],
                supplier_reference=d["supplier_reference"],
                arrival_temperature_c=d["arrival_temperature_c"],
                logger_ok=d["logger_ok"],
                packaging_intact=d["packaging_intact"],
                certificate_concentration_per_ml=d["certificate_concentration_per_ml"],
                record_gtin=d["record_gtin"],
                hold_confirmed=d["hold_confirmed"],
            )
        except ValidationError as exc:
            form.add_error(None, error_text(exc))
        else:
            lot.refresh_from_db()
            if lot.is_quarantined:
                messages.warning(
                    request, f"Lot {lot.lot_number} received and quarantined: {lot.hold_reason}."
                )
            else:
                filed = " and its certificate of analysis filed" if c.get("file") else ""
                messages.success(
                    request, f"Lot {lot.lot_number} received{filed}: {lot.quantity_on_hand} vials."
                )
            return redirect("products:lot_detail", pk=lot.pk)
    return render(request, "products/lot_receive.html", {"form": form, "coa_form": coa_form})


@permission_required("products.receive_stock", raise_exception=True)
@require_GET
def gs1_parse(request: HttpRequest) -> JsonResponse:
    """What a scanned string holds, for the receive form's live fill (same parser as the server)."""
    try:
        data = parse_gs1(request.GET.get("code", ""))
    except GS1Error as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    product = (
        Product.objects.active().filter(gtin=data.gtin).values("pk", "name").first() if data.gtin else None
    )
    return JsonResponse(
        {
            "gtin": data.gtin,
            "lot": data.lot,
            "serial": data.serial,
            "expiry": data.expiry.isoformat() if data.expiry else "",
            "product": product["pk"] if product else None,
            "product_name": product["name"] if product else "",
        }
    )


# Each stock action: its permission, form, and how it calls its service.
ACTIONS = {
    "waste": ("products.move_stock", "Waste stock", WasteForm),
    "adjust": ("products.move_stock", "Adjust the count", AdjustForm),
    "transfer": ("products.move_stock", "Transfer to another unit", TransferForm),
    "quarantine": ("products.hold_stock", "Quarantine", ReasonForm),
    "release": ("products.hold_stock", "Release from quarantine", ReasonForm),
    "recall": ("products.hold_stock", "Record a recall", ReasonForm),
}


def _run_action(action: str, lot: Lot, d: dict, actor: User) -> str:
    if action == "waste":
        services.stock_waste(lot=lot, quantity=d["quantity"], reason=d["reason"], note=d["note"], actor=actor)
        return f"{d['quantity']} vial(s) wasted."
    if action == "adjust":
        services.stock_adjust(lot=lot, counted=d["counted"], reason=d["reason"], actor=actor)
        return f"Count adjusted to {d['counted']}."
    if action == "transfer":
        whole = d["quantity"] is None or d["quantity"] == lot.quantity_on_hand
        services.stock_transfer(
            lot=lot,
            to_unit=d["to_unit"],
            quantity=d["quantity"],
            note=d["note"],
            actor=actor,
            hold_confirmed=d["hold_confirmed"],
        )
        if whole:
            return f"Lot moved to {d['to_unit']}."
        left = lot.quantity_on_hand - d["quantity"]
        return f"{d['quantity']} vial(s) sent to {d['to_unit']}; {left} stay here."
    if action == "quarantine":
        services.lot_quarantine(lot=lot, reason=d["reason"], actor=actor)
        return "Lot quarantined: do not use."
    if action == "release":
        services.lot_release(lot=lot, reason=d["reason"], actor=actor)
        return "Lot released for use."
    services.lot_recall(lot=lot, reason=d["reason"], actor=actor)
    return "Recall recorded; the lot can no longer be used."


@require_http_methods(["GET", "POST"])
def lot_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    if action not in ACTIONS:
        raise Http404("No such action.")
    permission, title, form_class = ACTIONS[action]
    if not request.user.has_perm(permission):
        raise PermissionDenied
    lot = get_for_user_or_404(
        Lot.objects.with_clearance().select_related("product", "storage_unit__location"), request.user, pk=pk
    )
    kwargs = {"units": _units(request.user).exclude(pk=lot.storage_unit_id)} if action == "transfer" else {}
    form = form_class(request.POST or None, **kwargs)
    if request.method == "POST" and form.is_valid():
        try:
            done = _run_action(action, lot, form.cleaned_data, request.user)
        except ValidationError as exc:
            form.add_error(None, error_text(exc))
        else:
            messages.success(request, done)
            return redirect("products:lot_detail", pk=lot.pk)
    return render(
        request, "products/lot_action.html", {"lot": lot, "form": form, "title": title, "action": action}
    )


@permission_required("products.open_vial", raise_exception=True)
@require_POST
def vial_open(request: HttpRequest, pk: int) -> HttpResponse:
    lot = get_for_user_or_404(Lot.objects.all(), request.user, pk=pk)
    try:
        vial = services.vial_open(lot=lot, actor=request.user)
    except ValidationError as exc:
        messages.error(request, error_text(exc))
        return redirect("products:lot_detail", pk=lot.pk)
    messages.success(request, f"Vial {vial.method}; use it before {vial.beyond_use_at:%H:%M on %d %b}.")
    return redirect("products:vial_draw", pk=vial.pk)


@permission_required("products.open_vial", raise_exception=True)
@require_http_methods(["GET", "POST"])
def vial_draw(request: HttpRequest, pk: int) -> HttpResponse:
    vial = get_for_user_or_404(
        OpenedVial.objects.select_related("lot__product", "lot__storage_unit__location"), request.user, pk=pk
    )
    form = VialDrawForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.vial_draw(
                vial=vial, volume_ml=form.cleaned_data["volume_ml"], reference=form.cleaned_data["reference"],
                actor=request.user,
            )  # fmt: skip
        except ValidationError as exc:
            form.add_error(None, error_text(exc))
        else:
            messages.success(request, f"{form.cleaned_data['volume_ml']} mL drawn.")
            return redirect("products:stock_overview")
    draws = vial.draws.select_related("drawn_by")
    return render(
        request,
        "products/vial_draw.html",
        {"vial": vial, "form": form, "discard_form": VialDiscardForm(), "draws": draws},
    )


@permission_required("products.open_vial", raise_exception=True)
@require_POST
def vial_discard(request: HttpRequest, pk: int) -> HttpResponse:
    vial = get_for_user_or_404(OpenedVial.objects.all(), request.user, pk=pk)
    form = VialDiscardForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose why the vial is discarded.")
        return redirect("products:vial_draw", pk=vial.pk)
    try:
        services.vial_discard(vial=vial, reason=form.cleaned_data["reason"], actor=request.user)
    except ValidationError as exc:
        messages.error(request, error_text(exc))
        return redirect("products:vial_draw", pk=vial.pk)
    messages.success(request, "Vial discarded.")
    return redirect("products:stock_overview")

"""Compliance pages (managers): the dashboard and its CSV, a product's classification, documents
and approval, uploading and renewing documents; and the document download (managers and
practitioners).

Scope: the catalogue is clinic-wide, so a product's documents are too (every site's manager
checks the same CE certificate before receiving stock); a lot's documents belong to the lot's
location, and another location's lot document is a 404 like the lot itself.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from clinic.audit import AuditAction, audit_record
from clinic.exports import csv_response
from clinic.files import CONTENT_TYPES, private_file_response
from clinic.forms import error_text
from clinic.scoping import get_for_user_or_404
from clinic.tables import paginate, sort_queryset
from products import compliance_report, services
from products.compliance import group_name, product_problems
from products.compliance_report import compliance_overview, upload_url
from products.forms import ClassificationForm, DocumentForm, RevokeApprovalForm
from products.models import DocumentType, Lot, Product, RegulatoryDocument
from products.models.compliance import RULES

LOT_STATES = [("", "All lots in stock"), ("gaps", "With a gap"), ("uncleared", "Not cleared")]
LOT_SORTS = {
    "lot": "product__name",
    "number": "lot_number",
    "location": "storage_unit__location__name",
    "expiry": "expiry_date",
}


@permission_required("products.view_compliance", raise_exception=True)
@require_GET
def compliance_dashboard(request: HttpRequest) -> HttpResponse:
    """Product and storage-unit gaps in full (the catalogue and the units are short lists);
    lots a page at a time, each with its own gaps, filtered and sorted in SQL; the totals are
    counted in SQL (``compliance_counts``), as on the dashboard panel."""
    today = timezone.localdate()
    products, product_gaps = compliance_report.product_part(today)
    units = compliance_report.units_due(request.user, today)
    counts = compliance_report.compliance_counts(
        request.user, today=today, products=products, product_gaps=product_gaps, units=units
    )
    state = request.GET.get("state", "")
    if state not in dict(LOT_STATES):
        state = ""
    lots = compliance_report.lot_filter(compliance_report.lots_in_scope(request.user), state, today)
    # By expiry first (the index on it serves a page at once); by product on request.
    lots, sort = sort_queryset(
        request, lots.select_related("product", "storage_unit__location"), LOT_SORTS, "expiry"
    )
    if sort.lstrip("-") == "lot":  # within a product, the lot to use first comes first
        by_name, tie = lots.query.order_by
        lots = lots.order_by(by_name, "expiry_date", tie)
    # Every lot reported on is listed unless filtered: the counts have already counted them.
    page = paginate(request, lots, count=None if state else counts.lots)
    page.object_list = compliance_report.lot_rows(page.object_list, products, today)
    gaps = product_gaps + compliance_report.unit_gaps(units, today)
    return render(
        request,
        "products/compliance_dashboard.html",
        {
            "products": products,
            "gaps": gaps,
            "lot_gap_count": counts.gaps - len(gaps),
            "units": units,
            "counts": counts,
            "page": page,
            "sort": sort,
            "state": state,
            "states": LOT_STATES,
        },
    )


@permission_required("products.view_compliance", raise_exception=True)
@require_GET
def compliance_export(request: HttpRequest) -> HttpResponse:
    overview = compliance_overview(request.user)
    base = request.build_absolute_uri("/").rstrip("/")

    def rows():
        for row in overview.products:
            p = row.product
            yield [
                "product", p.name, "", p.get_classification_display(), " ".join(p.jurisdictions),
                "cleared" if row.cleared else "not cleared", " ".join(row.problems), "",
            ]  # fmt: skip
        for row in overview.lots:
            lot = row.lot
            yield [
                "lot", f"{lot.product.name} lot {lot.lot_number}", lot.storage_unit.location.name,
                lot.product.get_classification_display(), "", "cleared" if row.cleared else "not cleared",
                " ".join(row.problems), lot.expiry_date.isoformat(),
            ]  # fmt: skip
        for gap in overview.gaps:
            yield ["gap: " + gap.kind, gap.subject, gap.location, "", "", gap.severity, gap.problem,
                   base + gap.fix_url]  # fmt: skip

    header = [
        "Kind",
        "Name",
        "Location",
        "Classification",
        "Jurisdictions",
        "State",
        "Problems",
        "Expiry / fix",
    ]
    return csv_response(f"compliance-{overview.today.isoformat()}.csv", header, rows())


def _product_page_context(request, product: Product, **forms) -> dict:
    documents = list(
        RegulatoryDocument.objects.filter(product=product)
        .select_related("uploaded_by", "superseded_by")
        .order_by("doc_type", "-uploaded_at", "-pk")
    )
    current = [d for d in documents if d.superseded_by_id is None]
    rule = RULES[product.classification]
    required = [
        {
            "name": group_name(group),
            "upload": upload_url(product=product, doc_type=group[0]),
            "held": [d for d in current if d.doc_type in group and not d.is_expired],
        }
        for group in rule.requires
    ]
    lots = (
        Lot.objects.for_user(request.user)
        .filter(product=product, quantity_on_hand__gt=0)
        .with_clearance()
        .select_related("storage_unit__location")
        .order_by("expiry_date", "pk")
    )
    problems = product_problems(product, current)
    return {
        "product": product,
        "problems": problems,
        "cleared": not problems,
        "rule": rule,
        "required": required,
        "current": current,
        "superseded": [d for d in documents if d.superseded_by_id is not None],
        "lots": lots,
        "classification_form": forms.get("classification_form") or ClassificationForm.for_product(product),
        "revoke_form": forms.get("revoke_form") or RevokeApprovalForm(),
    }


@permission_required("products.view_compliance", raise_exception=True)
@require_GET
def product_compliance(request: HttpRequest, pk: int) -> HttpResponse:
    product = get_object_or_404(Product.objects.select_related("approved_by"), pk=pk)
    return render(request, "products/product_compliance.html", _product_page_context(request, product))


@permission_required("products.change_product", raise_exception=True)
@require_POST
def product_classify(request: HttpRequest, pk: int) -> HttpResponse:
    product = get_object_or_404(Product, pk=pk)
    form = ClassificationForm(request.POST, prefix="cls")
    if form.is_valid():
        was_approved = product.approved_at is not None
        try:
            product = services.product_classify(actor=request.user, product=product, **form.cleaned_data)
        except ValidationError as exc:
            form.add_error(None, error_text(exc))
        else:
            if was_approved and product.approved_at is None:
                messages.warning(request, f"Classification saved; {product.name}'s approval was revoked.")
            else:
                messages.success(request, "Classification saved.")
            return redirect("products:product_compliance", pk=product.pk)
    product.refresh_from_db()
    context = _product_page_context(request, product, classification_form=form)
    return render(request, "products/product_compliance.html", context, status=400)


@permission_required("products.approve_product", raise_exception=True)
@require_POST
def product_approve(request: HttpRequest, pk: int) -> HttpResponse:
    product = get_object_or_404(Product, pk=pk)
    try:
        services.product_approve(actor=request.user, product=product)
    except ValidationError as exc:
        messages.error(request, error_text(exc))
    else:
        messages.success(request, f"{product.name} approved for use.")
    return redirect("products:product_compliance", pk=product.pk)


@permission_required("products.approve_product", raise_exception=True)
@require_POST
def product_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    product = get_object_or_404(Product, pk=pk)
    form = RevokeApprovalForm(request.POST)
    if form.is_valid():
        try:
            services.product_revoke_approval(
                actor=request.user, product=product, reason=form.cleaned_data["reason"]
            )
        except ValidationError as exc:
            messages.error(request, error_text(exc))
        else:
            messages.warning(request, f"{product.name}'s approval revoked: it cannot be used.")
        return redirect("products:product_compliance", pk=product.pk)
    context = _product_page_context(request, product, revoke_form=form)
    return render(request, "products/product_compliance.html", context, status=400)


def _document_form(request, *, product=None, lot=None, renewing=None) -> HttpResponse:
    for_lot = lot is not None
    initial = {}
    wanted = request.GET.get("type", "")
    if wanted in DocumentType.values and (for_lot or wanted != DocumentType.COA):
        initial["doc_type"] = wanted
    if for_lot and not wanted:
        initial["doc_type"] = DocumentType.COA
    form = DocumentForm(
        request.POST or None, request.FILES or None, for_lot=for_lot, renewing=renewing, initial=initial
    )
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        fields = {
            "issuer": d["issuer"],
            "reference": d["reference"],
            "issued_on": d["issued_on"],
            "expires_on": d["expires_on"],
            "upload": d["file"],
        }
        try:
            if renewing is not None:
                doc = services.document_renew(actor=request.user, document=renewing, **fields)
            else:
                doc = services.document_upload(
                    actor=request.user, doc_type=d["doc_type"], product=product, lot=lot, **fields
                )
        except ValidationError as exc:
            form.add_error(None, error_text(exc))
        else:
            messages.success(
                request, f"{doc.get_doc_type_display()} {doc.reference} filed (SHA-256 {doc.sha256})."
            )
            if doc.lot_id:
                return redirect("products:lot_detail", pk=doc.lot_id)
            return redirect("products:product_compliance", pk=doc.product_id)
    subject = renewing.subject if renewing is not None else (lot or product)
    if renewing is not None:
        title = f"Renew {renewing.get_doc_type_display().lower()} {renewing.reference}"
    else:
        title = "Upload a document"
    back = (
        ("products:lot_detail", (lot or renewing.lot).pk)
        if (lot or (renewing and renewing.lot_id))
        else ("products:product_compliance", (product or renewing.product).pk)
    )
    return render(
        request,
        "products/document_form.html",
        {"form": form, "title": title, "subject": subject, "renewing": renewing, "back": back},
    )


@permission_required("products.add_regulatorydocument", raise_exception=True)
@require_http_methods(["GET", "POST"])
def product_document_upload(request: HttpRequest, pk: int) -> HttpResponse:
    return _document_form(request, product=get_object_or_404(Product, pk=pk))


@permission_required("products.add_regulatorydocument", raise_exception=True)
@require_http_methods(["GET", "POST"])
def lot_document_upload(request: HttpRequest, pk: int) -> HttpResponse:
    lot = get_for_user_or_404(
        Lot.objects.select_related("product", "storage_unit__location"), request.user, pk=pk
    )
    return _document_form(request, lot=lot)


@permission_required("products.add_regulatorydocument", raise_exception=True)
@require_http_methods(["GET", "POST"])
def document_renew(request: HttpRequest, pk: int) -> HttpResponse:
    doc = get_for_user_or_404(
        RegulatoryDocument.objects.select_related("product", "lot__product", "lot__storage_unit__location"),
        request.user,
        pk=pk,
    )
    if doc.superseded_by_id:
        messages.error(request, "This document has already been renewed; renew the current one.")
        return redirect("products:document_renew", pk=doc.superseded_by_id)
    return _document_form(request, renewing=doc)


@permission_required("products.view_regulatorydocument", raise_exception=True)
@require_GET
def document_download(request: HttpRequest, pk: int) -> HttpResponse:
    doc = get_for_user_or_404(
        RegulatoryDocument.objects.select_related("product", "lot__product", "lot__storage_unit__location"),
        request.user,
        pk=pk,
    )
    # Every read of a regulatory file is on the trail (who, when, which version).
    audit_record(
        actor=request.user,
        action=AuditAction.DOCUMENT_DOWNLOAD,
        obj=doc,
        location=doc.location,
        after={"sha256": doc.sha256, "current": doc.is_current},
    )
    return private_file_response(
        name=doc.file_name,
        download_name=doc.download_name,
        content_type=CONTENT_TYPES.get(doc.file_kind, "application/octet-stream"),
        as_attachment=True,
    )

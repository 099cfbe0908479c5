"""The compliance overview: every product and lot with its clearance state, every gap with the
page where it is fixed, and storage units whose calibration certificate is running out.

Read across several models, so a selector rather than a queryset method. A fixed number of
queries whatever the data (products, lots in scope, their current documents, units); the rules
are applied in Python by the same functions the clearance gate uses.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from urllib.parse import urlencode

from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from products.compliance import (
    group_problem,
    lot_problems,
    product_document_problems,
    product_problems,
)
from products.models import Classification, Lot, Product, RegulatoryDocument, StorageUnit
from products.models.compliance import LOT_REQUIRES, RULES

# Documents and calibration certificates expiring within this many days are listed as gaps.
EXPIRING_WITHIN_DAYS = 60


@dataclass
class Gap:
    subject: str
    problem: str
    fix_url: str
    fix_label: str
    severity: str = "danger"  # "danger" blocks use; "warning" will block soon
    kind: str = "product"
    location: str = ""


@dataclass
class ProductRow:
    product: Product
    problems: list[str]
    documents: list = field(default_factory=list)

    @property
    def cleared(self) -> bool:
        return not self.problems


@dataclass
class LotRow:
    lot: Lot
    problems: list[str]

    @property
    def cleared(self) -> bool:
        return not self.problems


@dataclass
class Overview:
    products: list[ProductRow]
    lots: list[LotRow]
    units: list[StorageUnit]
    gaps: list[Gap]
    today: dt.date

    @property
    def blocking(self) -> int:
        return sum(1 for g in self.gaps if g.severity == "danger")


def upload_url(*, product: Product | None = None, lot: Lot | None = None, doc_type: str = "") -> str:
    query = f"?{urlencode({'type': doc_type})}" if doc_type else ""
    if lot is not None:
        return reverse("products:lot_document_upload", args=[lot.pk]) + query
    return reverse("products:product_document_upload", args=[product.pk]) + query


def compliance_overview(user, *, today: dt.date | None = None) -> Overview:
    today = today or timezone.localdate()
    soon = today + dt.timedelta(days=EXPIRING_WITHIN_DAYS)
    products = list(Product.objects.active().order_by("name", "pk"))
    lots = list(
        Lot.objects.for_user(user)
        .on_shelf()
        .filter(product__is_active=True)
        .select_related("product", "storage_unit__location")
        .order_by("product__name", "expiry_date", "pk")
    )
    docs = list(
        RegulatoryDocument.objects.current()
        .filter(Q(product__is_active=True) | Q(lot__in=[lot.pk for lot in lots]))
        .order_by("doc_type", "-issued_on", "pk")
    )
    units = list(
        StorageUnit.objects.for_user(user)
        .filter(is_active=True, calibration_expires_on__isnull=False, calibration_expires_on__lte=soon)
        .select_related("location")
        .order_by("calibration_expires_on", "pk")
    )
    by_product: dict[int, list] = defaultdict(list)
    by_lot: dict[int, list] = defaultdict(list)
    for doc in docs:
        (by_product[doc.product_id] if doc.product_id else by_lot[doc.lot_id]).append(doc)

    gaps: list[Gap] = []
    product_rows: list[ProductRow] = []
    product_problems_by_id: dict[int, list[str]] = {}
    for product in products:
        mine = by_product[product.pk]
        problems = product_problems(product, mine, today)
        product_problems_by_id[product.pk] = problems
        product_rows.append(ProductRow(product, problems, mine))
        page = reverse("products:product_compliance", args=[product.pk])
        rule = RULES.get(product.classification, RULES[Classification.UNKNOWN])
        if rule.refusal:
            gaps.append(Gap(product.name, problems[0], page + "#classification", "Set the classification"))
            continue
        for group in rule.requires:
            message = group_problem(product.name, group, mine, today)
            if message:
                gaps.append(
                    Gap(product.name, message, upload_url(product=product, doc_type=group[0]), "Upload")
                )
        if product.approved_at is None and not product_document_problems(product, mine, today):
            gaps.append(Gap(product.name, problems[-1], page + "#approval", "Review and approve"))
        for doc in mine:
            if doc.expires_on and today <= doc.expires_on <= soon:
                gaps.append(
                    Gap(
                        product.name,
                        f"{doc.get_doc_type_display()} {doc.reference} expires on {doc.expires_on:%d %b %Y}.",
                        reverse("products:document_renew", args=[doc.pk]),
                        "Renew",
                        severity="warning",
                    )
                )

    lot_rows: list[LotRow] = []
    for lot in lots:
        own = lot_problems(lot, by_lot[lot.pk], today)
        lot_rows.append(LotRow(lot, product_problems_by_id.get(lot.product_id, []) + own))
        where = lot.storage_unit.location.name
        subject = f"{lot.product.name} lot {lot.lot_number}"
        for group in LOT_REQUIRES:
            message = group_problem(f"Lot {lot.lot_number}", group, by_lot[lot.pk], today)
            if not message:
                continue
            gaps.append(
                Gap(
                    subject,
                    message,
                    upload_url(lot=lot, doc_type=group[0]),
                    "Upload",
                    kind="lot",
                    location=where,
                )
            )
        for doc in by_lot[lot.pk]:
            if doc.expires_on and today <= doc.expires_on <= soon:
                gaps.append(
                    Gap(
                        subject,
                        f"{doc.get_doc_type_display()} {doc.reference} expires on {doc.expires_on:%d %b %Y}.",
                        reverse("products:document_renew", args=[doc.pk]),
                        "Renew",
                        severity="warning",
                        kind="lot",
                        location=where,
                    )
                )

    for unit in units:
        expired = unit.calibration_expires_on < today
        gaps.append(
            Gap(
                unit.name,
                f"Calibration certificate {'expired' if expired else 'expires'} on "
                f"{unit.calibration_expires_on:%d %b %Y}.",
                reverse("products:unit_edit", args=[unit.pk]),
                "Update the unit",
                severity="danger" if expired else "warning",
                kind="storage unit",
                location=unit.location.name,
            )
        )
    return Overview(products=product_rows, lots=lot_rows, units=units, gaps=gaps, today=today)

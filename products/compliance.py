"""Compliance rules for products, asked by every service that records usage.

- ``lot_clearance_problems(lot)``: why a lot may not be used in a treatment (product not
  cleared: classification unknown, required documents missing or expired, no manager
  approval; the lot's certificate of analysis missing). Empty list = cleared.
- ``product_route_problems(product, route)``: why a product may not be charted for a route
  (e.g. a topical cosmetic cannot be charted as injected). Route keys: "topical",
  "intradermal", "scalp", "other".

The messages say exactly what is missing, for the person charting.

The rules are one table (``RULES``, with the compliance models in
``products/models/compliance.py``) read twice: in Python by the functions here (one query per
lot, or none when ``prefetch_clearance`` has loaded a whole list's documents), and in SQL by
``cleared_condition`` beside the table (``Lot.objects.cleared()``,
``Product.objects.with_clearance()``), so a list of lots never costs a query per lot and both
always agree.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable

from django.db.models import Q
from django.utils import timezone

from products.models.compliance import (
    LOT_REQUIRES,
    RULES,
    Classification,
    DocumentType,
)

ROUTE_LABELS = {
    "topical": "topical application",
    "intradermal": "intradermal injection",
    "scalp": "scalp injection",
}

# How a document type reads inside a sentence ("has no … on file").
DOC_NAMES = {
    DocumentType.CE_CERTIFICATE: "CE certificate",
    DocumentType.DECLARATION: "EU/UK declaration of conformity",
    DocumentType.COA: "certificate of analysis",
    DocumentType.IFU: "instructions for use",
    DocumentType.SDS: "safety data sheet",
    DocumentType.MANUFACTURING: "GMP or MFDS manufacturing certificate",
    DocumentType.REGISTRATION: "registration or import record",
    DocumentType.ATMP_AUTHORISATION: "ATMP authorisation",
    DocumentType.SUPPLIER_AGREEMENT: "supplier agreement",
    DocumentType.OTHER: "other document",
}


def group_name(group: Iterable[str]) -> str:
    return " or ".join(DOC_NAMES[t] for t in group)


def group_problem(subject: str, group: tuple[str, ...], docs: list, today: dt.date) -> str | None:
    """None if one document of the group is valid today, else the sentence saying what is missing."""
    mine = [d for d in docs if d.doc_type in group]
    if any(d.expires_on is None or d.expires_on >= today for d in mine):
        return None
    if mine:
        last = max(d.expires_on for d in mine)
        return (
            f"{subject} has no unexpired {group_name(group)} on file "
            f"(the one on file expired on {last:%d %b %Y})."
        )
    return f"{subject} has no {group_name(group)} on file."


def missing_groups(product, docs: list, today: dt.date | None = None) -> list[tuple[str, ...]]:
    """The document groups the product's rule asks for that are not valid today."""
    today = today or timezone.localdate()
    rule = RULES.get(product.classification, RULES[Classification.UNKNOWN])
    return [g for g in rule.requires if group_problem("", g, docs, today)]


def product_document_problems(product, docs: list, today: dt.date | None = None) -> list[str]:
    """What the product's classification and documents lack (approval aside)."""
    today = today or timezone.localdate()
    rule = RULES.get(product.classification, RULES[Classification.UNKNOWN])
    if rule.refusal:
        return [rule.refusal.format(name=product.name)]
    return [p for g in rule.requires if (p := group_problem(product.name, g, docs, today))]


def product_problems(product, docs: list, today: dt.date | None = None) -> list[str]:
    """Why the product is not cleared, from its current documents (``docs``)."""
    problems = product_document_problems(product, docs, today)
    if product.approved_at is None and not RULES.get(product.classification, RULES["unknown"]).refusal:
        problems.append(f"{product.name} has not been approved for use by a manager.")
    return problems


def lot_problems(lot, docs: list, today: dt.date | None = None) -> list[str]:
    """Why the lot itself is not cleared (its own documents only)."""
    today = today or timezone.localdate()
    subject = f"Lot {lot.lot_number}"
    return [p for g in LOT_REQUIRES if (p := group_problem(subject, g, docs, today))]


def current_docs(*, product_ids: Iterable[int], lot_ids: Iterable[int]) -> list:
    from products.models import RegulatoryDocument

    return list(
        RegulatoryDocument.objects.current()
        .filter(Q(product_id__in=list(product_ids)) | Q(lot_id__in=list(lot_ids)))
        .only("pk", "doc_type", "product_id", "lot_id", "expires_on")
    )


def prefetch_clearance(lots: Iterable) -> list:
    """Load the current documents of many lots and their products in one query, so the next
    ``lot_clearance_problems`` call for each lot asks nothing more (an offer list of lots)."""
    lots = list(lots)
    docs = current_docs(
        product_ids={lot.product_id for lot in lots}, lot_ids={lot.record_lot_id for lot in lots}
    )
    by_product: dict[int, list] = defaultdict(list)
    by_lot: dict[int, list] = defaultdict(list)
    for doc in docs:
        if doc.product_id:
            by_product[doc.product_id].append(doc)
        else:
            by_lot[doc.lot_id].append(doc)
    for lot in lots:
        lot._clearance_docs = (by_product[lot.product_id], by_lot[lot.record_lot_id])
    return lots


def lot_clearance_problems(lot) -> list[str]:
    """Reasons the lot is not cleared for use (regulatory clearance; stock state is separate)."""
    # Documents loaded by ``prefetch_clearance`` serve one call only, so a later check on the
    # same instance (after an upload, say) reads the database again.
    cached = lot.__dict__.pop("_clearance_docs", None)
    if cached is None:
        prefetch_clearance([lot])
        cached = lot.__dict__.pop("_clearance_docs")
    product_docs, lot_docs = cached
    today = timezone.localdate()
    return product_problems(lot.product, product_docs, today) + lot_problems(lot, lot_docs, today)


def product_route_problems(product, route: str) -> list[str]:
    """Reasons the product may not be used by this route: its label and its classification."""
    # One sentence per cause: a cosmetic injected is refused for being a cosmetic, whatever its
    # label says, so the practitioner is not told the same thing twice in other words.
    if product.classification == Classification.COSMETIC and route != "topical":
        what = ROUTE_LABELS.get(route, "anything but topical application")
        return [f"{product.name} is a cosmetic for topical use; it cannot be charted as {what}."]
    problems = []
    if route in ROUTE_LABELS and route not in product.routes:
        problems.append(f"{product.name} is not labelled for {ROUTE_LABELS[route]}.")
    if route in ROUTE_LABELS and route not in product.intended_routes:
        problems.append(
            f"{product.name}'s classification ({product.get_classification_display()}) does not cover "
            f"{ROUTE_LABELS[route]}."
        )
    return problems

"""The compliance overview: every product and lot with its clearance state, every gap with the
page where it is fixed, and storage units whose calibration certificate is running out.

Read across several models, so a selector rather than a queryset method. A fixed number of
queries whatever the data. Products (the catalogue: tens of rows) are checked in Python by the
same functions the clearance gate uses; lots (tens of thousands) are counted in SQL with the
clearance conditions of ``products.models`` (``compliance_counts``: the dashboard panel and the
page's totals), and only the lots shown on a page are explained in Python (``lot_rows``).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from urllib.parse import urlencode

from django.db.models import BooleanField, Count, ExpressionWrapper, Q, QuerySet
from django.urls import reverse, reverse_lazy
from django.utils import timezone
from django.utils.text import format_lazy

from products.compliance import (
    group_problem,
    lot_problems,
    product_document_problems,
    product_problems,
)
from products.models import Classification, Lot, Product, RegulatoryDocument, StorageUnit
from products.models.compliance import (
    LOT_REQUIRES,
    RULES,
    lot_document_group_condition,
)
from products.models.stock import (
    expiring_soon_cutoff,
    lot_cleared_condition,
    lot_cleared_parts,
    usable_parts,
)

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
    gaps: list[Gap] = field(default_factory=list)

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


@dataclass(frozen=True)
class Counts:
    """The totals of the compliance page, counted in SQL for lots: what the dashboard panel shows."""

    gaps: int
    blocking: int
    uncleared_products: int
    uncleared_lots: int
    lots: int = 0  # lots reported on (on the shelf, of active products)


def upload_url(*, product: Product | None = None, lot: Lot | None = None, doc_type: str = "") -> str:
    query = f"?{urlencode({'type': doc_type})}" if doc_type else ""
    if lot is not None:
        return reverse("products:lot_document_upload", args=[lot.pk]) + query
    return reverse("products:product_document_upload", args=[product.pk]) + query


def _link(viewname: str, *args, suffix: str = ""):
    """A lazy link: built only if a page shows it (the panel counts gaps, it shows none)."""
    return format_lazy("{}{}", reverse_lazy(viewname, args=args), suffix)


def _upload_link(*, product: Product | None = None, lot: Lot | None = None, doc_type: str = ""):
    query = f"?{urlencode({'type': doc_type})}" if doc_type else ""
    if lot is not None:
        return _link("products:lot_document_upload", lot.pk, suffix=query)
    assert product is not None
    return _link("products:product_document_upload", product.pk, suffix=query)


# Of the lots on the shelf, those the compliance page reports on: of products still listed.
REPORTED = Q(product__is_active=True)


def lots_in_scope(user) -> QuerySet:
    """The lots the page reports on: on the shelf at the user's locations, of active products."""
    return Lot.objects.for_user(user).on_shelf().filter(REPORTED)


def shelf_summary(user, today: dt.date | None = None) -> list[dict]:
    """How many lots on the shelf at the user's locations answer each combination of a few
    yes/no questions (usable, expiring soon, quarantined, reported on, cleared, holding each
    document group): one grouped query, a few rows, each rule evaluated once per lot (spelt
    ``bulk`` for a count). The dashboard's stock and compliance panels both read it, so the
    home page scans the lots once; it is kept on the user object for the rest of the request."""
    today = today or timezone.localdate()
    memo = getattr(user, "_shelf_summary", None)
    if memo is not None and memo[0] == today:
        return memo[1]
    # "usable" and "cleared" are asked as their parts (``usable_parts``: available, the
    # product cleared, each lot document held), each once per lot, and set on each row as
    # every one of them: the document question, the costly one, is asked once.
    usable = usable_parts(today, bulk=True)
    cleared = lot_cleared_parts(today, bulk=True)
    flags = {
        **usable,
        "soon": Q(expiry_date__lte=expiring_soon_cutoff(today)),
        "held": Q(is_quarantined=True),  # on the shelf: in stock and not recalled already
        "reported": REPORTED,
    }
    rows = list(
        Lot.objects.for_user(user)
        .on_shelf()
        .annotate(**{k: ExpressionWrapper(q, output_field=BooleanField()) for k, q in flags.items()})
        .order_by()
        .values(*flags)
        .annotate(n=Count("pk"))
    )
    for row in rows:
        row["usable"] = all(row[part] for part in usable)
        row["cleared"] = all(row[part] for part in cleared)
    setattr(user, "_shelf_summary", (today, rows))  # noqa: B010 (a lazy user proxies setattr)
    return rows


def count_where(rows: list[dict], *yes: str, no: tuple[str, ...] = ()) -> int:
    """Lots of ``shelf_summary`` answering yes to every ``yes`` and no to every ``no``."""
    return sum(r["n"] for r in rows if all(r[k] for k in yes) and not any(r[k] for k in no))


def _expiring(doc, today: dt.date, soon: dt.date) -> bool:
    return bool(doc.expires_on and today <= doc.expires_on <= soon)


def product_part(today: dt.date) -> tuple[list[ProductRow], list[Gap]]:
    """Every active product with what it lacks, and the products' gaps (two queries)."""
    soon = today + dt.timedelta(days=EXPIRING_WITHIN_DAYS)
    products = list(Product.objects.active().order_by("name", "pk"))
    by_product: dict[int, list] = defaultdict(list)
    for doc in (
        RegulatoryDocument.objects.current()
        .filter(product__is_active=True)
        .order_by("doc_type", "-issued_on", "pk")
    ):
        by_product[doc.product_id].append(doc)
    gaps: list[Gap] = []
    rows: list[ProductRow] = []
    for product in products:
        mine = by_product[product.pk]
        problems = product_problems(product, mine, today)
        rows.append(ProductRow(product, problems, mine))
        rule = RULES.get(product.classification, RULES[Classification.UNKNOWN])
        if rule.refusal:
            gaps.append(
                Gap(
                    product.name,
                    problems[0],
                    _link("products:product_compliance", product.pk, suffix="#classification"),
                    "Set the classification",
                )
            )
            continue
        for group in rule.requires:
            message = group_problem(product.name, group, mine, today)
            if message:
                gaps.append(
                    Gap(product.name, message, _upload_link(product=product, doc_type=group[0]), "Upload")
                )
        if product.approved_at is None and not product_document_problems(product, mine, today):
            gaps.append(
                Gap(
                    product.name,
                    problems[-1],
                    _link("products:product_compliance", product.pk, suffix="#approval"),
                    "Review and approve",
                )
            )
        for doc in mine:
            if _expiring(doc, today, soon):
                gaps.append(
                    Gap(
                        product.name,
                        f"{doc.get_doc_type_display()} {doc.reference} expires on {doc.expires_on:%d %b %Y}.",
                        _link("products:document_renew", doc.pk),
                        "Renew",
                        severity="warning",
                    )
                )
    return rows, gaps


def units_due(user, today: dt.date) -> list[StorageUnit]:
    """Active storage units whose calibration certificate has expired or expires soon."""
    soon = today + dt.timedelta(days=EXPIRING_WITHIN_DAYS)
    return list(
        StorageUnit.objects.for_user(user)
        .filter(is_active=True, calibration_expires_on__isnull=False, calibration_expires_on__lte=soon)
        .select_related("location")
        .order_by("calibration_expires_on", "pk")
    )


def unit_gaps(units: list[StorageUnit], today: dt.date) -> list[Gap]:
    gaps = []
    for unit in units:
        expired = unit.calibration_expires_on < today
        gaps.append(
            Gap(
                unit.name,
                f"Calibration certificate {'expired' if expired else 'expires'} on "
                f"{unit.calibration_expires_on:%d %b %Y}.",
                _link("products:unit_edit", unit.pk),
                "Update the unit",
                severity="danger" if expired else "warning",
                kind="storage unit",
                location=unit.location.name,
            )
        )
    return gaps


def lot_gaps(lot: Lot, docs: list, today: dt.date) -> list[Gap]:
    """The lot's own gaps: a missing certificate (blocks use), documents expiring soon."""
    soon = today + dt.timedelta(days=EXPIRING_WITHIN_DAYS)
    where = lot.storage_unit.location.name
    subject = f"{lot.product.name} lot {lot.lot_number}"
    gaps = []
    for group in LOT_REQUIRES:
        message = group_problem(f"Lot {lot.lot_number}", group, docs, today)
        if message:
            gaps.append(
                Gap(
                    subject,
                    message,
                    _upload_link(lot=lot, doc_type=group[0]),
                    "Upload",
                    kind="lot",
                    location=where,
                )
            )
    for doc in docs:
        if _expiring(doc, today, soon):
            gaps.append(
                Gap(
                    subject,
                    f"{doc.get_doc_type_display()} {doc.reference} expires on {doc.expires_on:%d %b %Y}.",
                    _link("products:document_renew", doc.pk),
                    "Renew",
                    severity="warning",
                    kind="lot",
                    location=where,
                )
            )
    return gaps


def lot_rows(lots, products: list[ProductRow], today: dt.date) -> list[LotRow]:
    """Rows for the lots given (a page of them, or all for the export): their problems, product's
    and own, and their own gaps. One query (their current documents)."""
    lots = list(lots)
    by_lot: dict[int, list] = defaultdict(list)
    if lots:
        for doc in (
            RegulatoryDocument.objects.current()
            .filter(lot__in=[lot.pk for lot in lots])
            .order_by("doc_type", "-issued_on", "pk")
        ):
            by_lot[doc.lot_id].append(doc)
    problems_of = {row.product.pk: row.problems for row in products}
    return [
        LotRow(
            lot,
            problems_of.get(lot.product_id, []) + lot_problems(lot, by_lot[lot.pk], today),
            lot_gaps(lot, by_lot[lot.pk], today),
        )
        for lot in lots
    ]


def lot_filter(lots: QuerySet, state: str, today: dt.date) -> QuerySet:
    """``state``: "gaps" (lots with a gap of their own), "uncleared" (not cleared), else all."""
    soon = today + dt.timedelta(days=EXPIRING_WITHIN_DAYS)
    if state == "uncleared":
        return lots.filter(~lot_cleared_condition(today))
    if state == "gaps":
        missing = Q(pk__in=[])
        for group in LOT_REQUIRES:
            missing |= ~lot_document_group_condition(group, today=today)
        expiring = RegulatoryDocument.objects.current().filter(expires_on__gte=today, expires_on__lte=soon)
        return lots.filter(missing | Q(pk__in=expiring.values("lot")))
    return lots


def compliance_counts(
    user,
    *,
    today: dt.date | None = None,
    products: list[ProductRow] | None = None,
    product_gaps: list[Gap] | None = None,
    units: list[StorageUnit] | None = None,
) -> Counts:
    """Gaps, blocking gaps, products and lots not cleared: lots counted in SQL (``COUNT(*) FILTER``
    over the clearance conditions, ``shelf_summary``), so the cost does not grow with a Python row
    per lot.
    Products (tens) are counted from their rows (``product_part``: the clearance gate's own
    checks). ``products``, ``product_gaps`` and ``units`` may be passed in by a page that has
    already loaded them."""
    today = today or timezone.localdate()
    soon = today + dt.timedelta(days=EXPIRING_WITHIN_DAYS)
    if products is None or product_gaps is None:
        products, product_gaps = product_part(today)
    lots = lots_in_scope(user)
    summary = shelf_summary(user, today)
    lot_missing = sum(count_where(summary, "reported", no=(f"has_{i}",)) for i in range(len(LOT_REQUIRES)))
    expiring_lot_docs = (
        RegulatoryDocument.objects.current()
        .filter(lot__in=lots, expires_on__gte=today, expires_on__lte=soon)
        .count()
    )
    if units is None:
        unit_counts = (
            StorageUnit.objects.for_user(user)
            .filter(is_active=True, calibration_expires_on__isnull=False, calibration_expires_on__lte=soon)
            .aggregate(due=Count("pk"), expired=Count("pk", filter=Q(calibration_expires_on__lt=today)))
        )
        units_due_n, units_expired = unit_counts["due"], unit_counts["expired"]
    else:
        units_due_n = len(units)
        units_expired = sum(1 for u in units if u.calibration_expires_on < today)
    uncleared_products = sum(1 for row in products if not row.cleared)
    return Counts(
        gaps=len(product_gaps) + lot_missing + expiring_lot_docs + units_due_n,
        blocking=sum(1 for g in product_gaps if g.severity == "danger") + lot_missing + units_expired,
        uncleared_products=uncleared_products,
        uncleared_lots=count_where(summary, "reported", no=("cleared",)),
        lots=count_where(summary, "reported"),
    )


def compliance_overview(user, *, today: dt.date | None = None) -> Overview:
    """Everything, every lot included: for the CSV export (the page shows a page of lots)."""
    today = today or timezone.localdate()
    product_rows, gaps = product_part(today)
    lots = lots_in_scope(user).select_related("product", "storage_unit__location")
    rows = lot_rows(lots.order_by("product__name", "expiry_date", "pk"), product_rows, today)
    units = units_due(user, today)
    gaps = gaps + [gap for row in rows for gap in row.gaps] + unit_gaps(units, today)
    return Overview(products=product_rows, lots=rows, units=units, gaps=gaps, today=today)

"""What a scanned box means at the chair: exactly one usable lot, or the plain reason it is not.

A practitioner who scans a box trusts the result, so a scan never falls back to "some lot":
it names the lot on the box, or says why that lot cannot be used here (recalled, quarantined,
no vials left, expired, not cleared, kept at another location, another product than the one
chosen, a box whose printed expiry is not the lot's) or that no such lot is recorded. Reads
only; the record's save checks the lot again under its row lock.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Q, QuerySet

from products import compliance
from products.gs1 import GS1Data, GS1Error, looks_like_gs1, parse_gs1
from products.models import Lot, LotStatus, Product
from products.models.stock import UNUSABLE


@dataclass(frozen=True)
class ScanResult:
    """A lot that may be used (``message`` empty), or no lot and the reason."""

    lot: Lot | None
    message: str = ""
    reason: str = "ok"

    @property
    def ok(self) -> bool:
        return self.lot is not None and not self.message


def read_scan(text: str) -> tuple[str, GS1Data | None]:
    """(lot number, GS1 data or None for a typed lot number); GS1Error for an unreadable code."""
    text = (text or "").strip()
    if not text:
        raise GS1Error("Nothing was scanned.")
    data = parse_gs1(text) if looks_like_gs1(text) else None
    if data is not None and not data.lot:
        raise GS1Error("This barcode carries no lot number (AI 10); scan the code that shows the lot.")
    return (data.lot if data else text), data


def _gtin_matches(lot: Lot, gtin: str) -> bool:
    own = lot.gtin or lot.product.gtin
    return not own or own.zfill(14) == gtin.zfill(14)


def lot_for_scan(
    text: str,
    *,
    lots: QuerySet[Lot],
    location,
    product: Product | None = None,
) -> ScanResult:
    """The lot a scan names among ``lots`` (already scoped to the user), checked for use at
    ``location`` and, when the line has one, for ``product``."""
    try:
        number, data = read_scan(text)
    except GS1Error as exc:
        return ScanResult(None, f"The scan could not be read: {exc}", "unreadable")
    candidates = [
        lot
        for lot in lots.filter(lot_number__iexact=number).select_related("product", "storage_unit__location")
        if not (data and data.gtin) or _gtin_matches(lot, data.gtin)
    ]
    here = _one_place_per_product([lot for lot in candidates if lot.storage_unit.location_id == location.pk])
    if not here:
        if candidates:
            where = ", ".join(sorted({lot.storage_unit.location.name for lot in candidates}))
            return ScanResult(
                None, f"Lot {number} is kept at {where}, not at {location.name}: it cannot be used here.",
                "elsewhere",
            )  # fmt: skip
        named = ""
        if data and data.gtin:
            boxed = Product.objects.filter(Q(gtin=data.gtin.zfill(14)) | Q(gtin=data.gtin)).first()
            named = f" of {boxed}" if boxed else f" with GTIN {data.gtin}"
        message = f"No lot {number}{named} is recorded here: check the box, or receive the lot first."
        return ScanResult(None, message, "unknown")
    if product is not None:
        mine = [lot for lot in here if lot.product_id == product.pk]
        if not mine:
            other = here[0]
            # Why the box cannot be used at all comes before which product it is.
            refused = _unusable(other, data) if len(here) == 1 else None
            return refused or ScanResult(
                None,
                f"This box is {other.product} (lot {other.lot_number}), not {product}, the product "
                "chosen for this line: choose that product first, or scan the right box.",
                "other_product",
            )
        here = mine
    if len(here) > 1:
        names = " and ".join(sorted(str(lot.product) for lot in here))
        return ScanResult(
            None, f"Lot {number} is recorded for {names}: choose the product first, then scan.", "ambiguous"
        )
    lot = here[0]
    return _unusable(lot, data) or ScanResult(lot)


def _one_place_per_product(rows: list[Lot]) -> list[Lot]:
    """A lot kept in two units here (a fridge and its back-up) is still one box's lot: offer
    the place that can be used (in stock, not held), and only one per product."""
    best: dict[int, Lot] = {}
    for lot in sorted(rows, key=lambda lot: (lot.status in UNUSABLE, lot.pk)):
        best.setdefault(lot.product_id, lot)
    return list(best.values())


def _unusable(lot: Lot, data: GS1Data | None) -> ScanResult | None:
    """Why the lot on the box cannot be used, whatever the line: None when it can."""
    tag = f"Lot {lot.lot_number} of {lot.product}"
    status = lot.status
    if status == LotStatus.RECALLED:
        why = f" ({lot.hold_reason})" if lot.hold_reason else ""
        return ScanResult(None, f"{tag} is recalled{why}: do not use it.", "recalled")
    if status == LotStatus.DEPLETED:
        return ScanResult(None, f"{tag} has no sealed vials left on record.", "depleted")
    if status == LotStatus.QUARANTINED:
        why = f" ({lot.hold_reason})" if lot.hold_reason else ""
        return ScanResult(
            None, f"{tag} is quarantined{why}: do not use it until a manager releases it.", "quarantined"
        )
    if status == LotStatus.EXPIRED:
        return ScanResult(None, f"{tag} expired on {lot.expiry_date:%d %b %Y}: do not use it.", "expired")
    if data and data.expiry and data.expiry != lot.expiry_date:
        return ScanResult(
            None,
            f"The box says it expires on {data.expiry:%d %b %Y}, but {tag} is recorded as expiring on "
            f"{lot.expiry_date:%d %b %Y}: check the box against the lot before using it.",
            "expiry_mismatch",
        )
    problems = compliance.lot_clearance_problems(lot)
    if problems:
        return ScanResult(None, f"{tag} is not cleared for use: " + " ".join(problems), "not_cleared")
    return None

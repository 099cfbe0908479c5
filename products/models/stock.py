"""Lots, the stock ledger and opened vials."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Case, Count, F, Q, Sum, Value, When
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce
from django.utils import timezone

from clinic.scoping import LocationScopedQuerySet
from products.models.catalogue import Product
from products.models.compliance import LOT_REQUIRES, compiled_subquery, lot_document_group_condition


class LotStatus(models.TextChoices):
    AVAILABLE = "available", "Available"
    EXPIRING_SOON = "expiring_soon", "Expiring soon"
    EXPIRED = "expired", "Expired"
    QUARANTINED = "quarantined", "Quarantined"
    RECALLED = "recalled", "Recalled"
    DEPLETED = "depleted", "Depleted"


# Badge colour per status; one map so every page shows the same thing.
STATUS_TONES = {
    LotStatus.AVAILABLE: "success",
    LotStatus.EXPIRING_SOON: "warning",
    LotStatus.EXPIRED: "danger",
    LotStatus.QUARANTINED: "danger",
    LotStatus.RECALLED: "dark",
    LotStatus.DEPLETED: "secondary",
}
# Statuses a lot cannot be used in (expiring soon is still usable).
UNUSABLE = {LotStatus.EXPIRED, LotStatus.QUARANTINED, LotStatus.RECALLED, LotStatus.DEPLETED}


def expiring_soon_cutoff(today: dt.date | None = None) -> dt.date:
    return (today or timezone.localdate()) + dt.timedelta(days=settings.EXPIRING_SOON_DAYS)


def lot_status_of(
    *, is_recalled: bool, is_quarantined: bool, on_hand: int, expiry: dt.date, today: dt.date | None = None
) -> str:
    """The one rule for a lot's status; ``LotQuerySet.with_status`` is its SQL twin."""
    today = today or timezone.localdate()
    if is_recalled:
        return LotStatus.RECALLED
    # An empty lot is simply gone, whatever hold it was under when it emptied.
    if on_hand <= 0:
        return LotStatus.DEPLETED
    if is_quarantined:
        return LotStatus.QUARANTINED
    if expiry < today:
        return LotStatus.EXPIRED
    if expiry <= expiring_soon_cutoff(today):
        return LotStatus.EXPIRING_SOON
    return LotStatus.AVAILABLE


def available_condition(today: dt.date | None = None) -> Q:
    """Lots on the shelf to draw from, clearance aside: in stock, in date, not held back."""
    return Q(
        is_recalled=False,
        is_quarantined=False,
        quantity_on_hand__gt=0,
        expiry_date__gte=today or timezone.localdate(),
    )


def _cleared_products(today: dt.date) -> RawSQL:
    """``Product.objects.cleared(today).values("pk")``, a subquery never run on its own. Building
    and compiling it resolves every rule's EXISTS (milliseconds of Python, several times a
    page), so each thread compiles it once a day (``compiled_subquery``: the SQL, not rows; the
    documents are read afresh by every query)."""
    return compiled_subquery(("cleared_products", today), lambda: Product.objects.cleared(today).values("pk"))


def lot_cleared_parts(today: dt.date | None = None, *, bulk: bool = False) -> dict[str, Q]:
    """The conditions a cleared lot meets, every one of them: ``product_cleared`` (its product is
    cleared) and ``has_<i>`` (it holds a valid document of ``LOT_REQUIRES[i]``,
    ``lot_document_group_condition``: its certificate of analysis). ``lot_cleared_condition``
    is all of them; a grouped count asks each once per lot (``usable_parts``).

    The product's part is ``cleared_condition`` on products, asked once per query (a few
    products) rather than once per lot (issue 19: tens of thousands of lots). ``bulk=True``
    for counts and sums over many lots (``lot_document_group_condition``)."""
    # ``product IN (…)``: uncorrelated, so the database evaluates it once (a hashed subplan).
    cleared_products = _cleared_products(today or timezone.localdate())
    return {
        "product_cleared": Q(product__in=cleared_products),
        **{
            f"has_{i}": lot_document_group_condition(group, today=today, bulk=bulk)
            for i, group in enumerate(LOT_REQUIRES)
        },
    }


def _every(parts: dict[str, Q]) -> Q:
    condition = Q()
    for part in parts.values():
        condition &= part
    return condition


def lot_cleared_condition(today: dt.date | None = None, *, bulk: bool = False) -> Q:
    """A lot is cleared when its product is and it holds its own certificate of analysis
    (every one of ``lot_cleared_parts``)."""
    return _every(lot_cleared_parts(today, bulk=bulk))


def usable_parts(today: dt.date | None = None, *, bulk: bool = False) -> dict[str, Q]:
    """The conditions "usable" is made of, every one of which a usable lot meets: ``available``
    (``available_condition``) and the parts of ``lot_cleared_condition``
    (``lot_cleared_parts``). A grouped count asks each once per lot and counts as usable the
    lots answering yes to every part (``compliance_report.shelf_summary``), rather than asking
    the costly document question once for "usable", again for "cleared" and again for a gap."""
    return {"available": available_condition(today), **lot_cleared_parts(today, bulk=bulk)}


def usable_condition(today: dt.date | None = None, *, bulk: bool = False) -> Q:
    """THE rule for "usable": available and cleared for use (the product's classification,
    documents and approval, and the lot's own certificate). What charting offers, what the
    stock services accept, and what every page and report counts as usable. ``bulk=True``:
    the same rule spelt for a count or sum over many lots (``lot_cleared_condition``)."""
    return _every(usable_parts(today, bulk=bulk))


class LotQuerySet(LocationScopedQuerySet):
    location_lookup = "storage_unit__location"

    def in_stock(self) -> LotQuerySet:
        """Lots with sealed vials on hand, whatever their state."""
        return self.filter(quantity_on_hand__gt=0)

    def on_shelf(self) -> LotQuerySet:
        """In stock and not recalled: still in the clinic's storage (quarantined, expired and
        uncleared lots included), so still to be used, released or disposed of."""
        return self.in_stock().filter(is_recalled=False)

    def available(self) -> LotQuerySet:
        """In stock, in date and not held back, cleared or not (``available_condition``): for
        lists that show uncleared lots with the reason rather than hide them."""
        return self.filter(available_condition())

    def usable(self) -> LotQuerySet:
        """Lots that may be used in a treatment today (``usable_condition``)."""
        return self.filter(usable_condition())

    def expiring_by(self, cutoff: dt.date | None = None) -> LotQuerySet:
        """Lots expiring on or before ``cutoff`` (default: the expiring-soon horizon,
        ``EXPIRING_SOON_DAYS`` from today), already expired ones included."""
        return self.filter(expiry_date__lte=cutoff or expiring_soon_cutoff())

    def stock_by_product(self, *fields: str) -> models.QuerySet:
        """Per product (and ``fields``): sealed vials ``on_hand``, how many are ``usable``,
        and the number of ``lots`` with stock. One grouped query."""
        return (
            self.in_stock()
            .order_by()
            .values("product_id", *fields)
            .annotate(
                on_hand=Sum("quantity_on_hand"),
                usable=Coalesce(Sum("quantity_on_hand", filter=usable_condition(bulk=True)), 0),
                lots=Count("id"),
            )
        )

    def cleared(self) -> LotQuerySet:
        """Lots whose product is cleared and which hold their own certificate of analysis
        (the rules table as Exists subqueries: no query per lot)."""
        return self.filter(lot_cleared_condition())

    def with_clearance(self) -> LotQuerySet:
        """Annotate ``is_cleared`` for lists that label uncleared lots rather than hide them."""
        return self.annotate(
            is_cleared=models.ExpressionWrapper(lot_cleared_condition(), output_field=models.BooleanField())
        )

    def fefo(self) -> LotQuerySet:
        """First expiry, first out."""
        return self.order_by("expiry_date", "received_on", "id")

    def with_status(self) -> LotQuerySet:
        today = timezone.localdate()
        return self.annotate(
            status_code=Case(
                When(is_recalled=True, then=Value(LotStatus.RECALLED.value)),
                When(quantity_on_hand__lte=0, then=Value(LotStatus.DEPLETED.value)),
                When(is_quarantined=True, then=Value(LotStatus.QUARANTINED.value)),
                When(expiry_date__lt=today, then=Value(LotStatus.EXPIRED.value)),
                When(expiry_date__lte=expiring_soon_cutoff(today), then=Value(LotStatus.EXPIRING_SOON.value)),
                default=Value(LotStatus.AVAILABLE.value),
                output_field=models.CharField(),
            )
        )

    def in_status(self, status: str) -> LotQuerySet:
        return self.with_status().filter(status_code=status)


class Lot(models.Model):
    """The stock of one manufacturer lot of a product in one storage unit.

    A lot split between places (5 of its 20 vials sent to the other site) is one row per
    storage unit, as Odoo's quants or OpenBoxes' bins: the row first received is the
    ``origin``, the others point at it. What belongs to the manufacturer's lot rather than to
    a place (its certificate of analysis, a recall) is kept on, or applied through, the origin;
    what belongs to a place (the count, a quarantine after an excursion there) stays per row.

    ``quantity_on_hand`` (sealed vials) always equals the sum of the row's ledger rows:
    only the stock services change it, under a row lock, in the same transaction as the
    movement they write. The database refuses a negative value.
    """

    product = models.ForeignKey("products.Product", on_delete=models.PROTECT, related_name="lots")
    lot_number = models.CharField(max_length=40)
    gtin = models.CharField("GTIN", max_length=14, blank=True)
    serial = models.CharField(max_length=40, blank=True, help_text="GS1 AI 21, when the box carries one.")
    expiry_date = models.DateField()
    manufactured_on = models.DateField(null=True, blank=True)
    received_on = models.DateField(default=timezone.localdate)
    received_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    quantity_received = models.PositiveIntegerField()
    quantity_on_hand = models.IntegerField(default=0)
    storage_unit = models.ForeignKey("products.StorageUnit", on_delete=models.PROTECT, related_name="lots")
    origin = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="branches",
        help_text="The row this lot was first received as, when its stock is split between places.",
    )
    supplier_reference = models.CharField(max_length=80, blank=True)
    arrival_temperature_c = models.DecimalField(
        "temperature on arrival (°C)", max_digits=5, decimal_places=1, null=True, blank=True
    )
    logger_ok = models.BooleanField("shipping logger OK", null=True, blank=True)
    packaging_intact = models.BooleanField(default=True)
    certificate_concentration_per_ml = models.DecimalField(
        "concentration on the certificate (particles/mL)",
        max_digits=20,
        decimal_places=0,
        null=True,
        blank=True,
    )
    is_quarantined = models.BooleanField(default=False)
    is_recalled = models.BooleanField(default=False)
    hold_reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Kept by database triggers from the documents (``products.models.certificate_dates``):
    # whatever a save writes here is replaced. Counts over many lots read it; one lot's
    # clearance is asked of its documents.
    certificate_until = models.DateField(
        null=True,
        editable=False,
        help_text="Latest expiry among the current certificates of analysis of this manufacturer's lot "
        "(9999-12-31: one without expiry; empty: none). Kept by the database.",
    )

    objects = LotQuerySet.as_manager()

    class Meta:
        ordering = ["expiry_date", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["product", "lot_number", "storage_unit"], name="lot_number_unique_per_product_unit"
            ),
            models.CheckConstraint(condition=Q(quantity_on_hand__gte=0), name="lot_on_hand_not_negative"),
            models.CheckConstraint(condition=Q(quantity_received__gt=0), name="lot_received_positive"),
            models.CheckConstraint(
                condition=Q(manufactured_on__isnull=True) | Q(expiry_date__gt=F("manufactured_on")),
                name="lot_expiry_after_manufacture",
            ),
        ]
        indexes = [
            models.Index(fields=["storage_unit", "expiry_date"]),
            models.Index(fields=["product", "expiry_date"]),
            models.Index(fields=["expiry_date"]),
        ]
        permissions = [
            ("receive_stock", "Can receive stock"),
            ("move_stock", "Can waste, adjust and transfer stock"),
            ("hold_stock", "Can quarantine, release and recall lots"),
            ("use_stock", "Can use stock in a treatment"),
        ]

    def __str__(self) -> str:
        return f"{self.product} lot {self.lot_number}"

    @property
    def status(self) -> str:
        return lot_status_of(
            is_recalled=self.is_recalled,
            is_quarantined=self.is_quarantined,
            on_hand=self.quantity_on_hand,
            expiry=self.expiry_date,
        )

    @property
    def status_label(self) -> str:
        return LotStatus(self.status).label

    @property
    def status_tone(self) -> str:
        return STATUS_TONES[LotStatus(self.status)]

    @property
    def is_usable(self) -> bool:
        return self.status not in UNUSABLE

    @property
    def location(self):
        return self.storage_unit.location

    @property
    def record_lot_id(self) -> int:
        """The row that stands for the manufacturer's lot: the origin, or this row."""
        return self.origin_id or self.pk

    def family(self) -> LotQuerySet:
        """Every row of this manufacturer lot, in any place (unscoped: callers scope it)."""
        root = self.record_lot_id
        return Lot.objects.filter(Q(pk=root) | Q(origin_id=root))


class MovementKind(models.TextChoices):
    RECEIVED = "received", "Received"
    USED = "used", "Used in a treatment"
    OPENED = "opened", "Vial opened"
    WASTED = "wasted", "Wasted"
    ADJUSTED = "adjusted", "Count adjustment"
    TRANSFER = "transfer", "Transfer"
    TRANSFER_OUT = "transfer_out", "Sent to another unit"
    TRANSFER_IN = "transfer_in", "Received from another unit"
    QUARANTINE = "quarantine", "Quarantined"
    RELEASE = "release", "Released"
    RECALL = "recall", "Recalled"


# Kinds that change the quantity; the others record a change of place or status.
QUANTITY_KINDS = {MovementKind.RECEIVED, MovementKind.USED, MovementKind.OPENED, MovementKind.WASTED}
# Kinds that move vials between places: a whole row moving (``transfer``, quantity 0) or some
# of its vials going to another row of the same lot (``transfer_out`` here, ``transfer_in`` there).
TRANSFER_KINDS = {MovementKind.TRANSFER, MovementKind.TRANSFER_OUT, MovementKind.TRANSFER_IN}


class WasteReason(models.TextChoices):
    BROKEN = "broken", "Broken"
    DRAWN_UNUSED = "drawn_unused", "Drawn but unused"
    BEYOND_USE = "beyond_use", "Beyond use after reconstitution or thaw"
    EXPIRED = "expired", "Expired"
    TEMPERATURE = "temperature", "Temperature-spoiled"
    RECALLED = "recalled", "Recalled"


class StockMovement(models.Model):
    """One ledger row: a change of a lot's quantity, place or status. Never edited.

    ``storage_unit`` is where it happened (for a whole-row transfer, where the stock went).
    """

    lot = models.ForeignKey(Lot, on_delete=models.PROTECT, related_name="movements")
    storage_unit = models.ForeignKey(
        "products.StorageUnit", null=True, on_delete=models.PROTECT, related_name="movements"
    )
    kind = models.CharField(max_length=20, choices=MovementKind.choices)
    quantity = models.IntegerField(
        help_text="Vials added (positive) or taken (negative); 0 for status changes."
    )
    balance_after = models.IntegerField()
    reason = models.CharField(max_length=20, choices=WasteReason.choices, blank=True)
    note = models.CharField(max_length=300, blank=True)
    reference = models.CharField(max_length=80, blank=True, help_text="e.g. the treatment record it served.")
    from_unit = models.ForeignKey(
        "products.StorageUnit", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    to_unit = models.ForeignKey(
        "products.StorageUnit", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(balance_after__gte=0), name="movement_balance_not_negative"),
            models.CheckConstraint(
                condition=Q(kind__in=["received", "transfer_in"], quantity__gt=0)
                | Q(kind__in=["used", "opened", "wasted", "transfer_out"], quantity__lt=0)
                | Q(kind="adjusted") & ~Q(quantity=0)
                | Q(kind__in=["transfer", "quarantine", "release", "recall"], quantity=0),
                name="movement_quantity_sign_matches_kind",
            ),
        ]
        indexes = [
            models.Index(fields=["lot", "created_at"]),
            models.Index(fields=["kind", "created_at"]),
            models.Index(fields=["storage_unit", "created_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.quantity:+d} ({self.lot})"


class OpenedVialQuerySet(LocationScopedQuerySet):
    location_lookup = "lot__storage_unit__location"

    def still_open(self) -> OpenedVialQuerySet:
        """Not discarded yet (beyond-use ones included: they are waiting to be discarded)."""
        return self.filter(discarded_at__isnull=True)

    def in_use(self) -> OpenedVialQuerySet:
        """Still open and inside the beyond-use time: vials that may be drawn from now."""
        return self.still_open().filter(beyond_use_at__gt=timezone.now())


class OpenedVial(models.Model):
    """A vial taken out of sealed stock: reconstituted, thawed or opened, with its window.

    Several patients may be served from it until its beyond-use time; after that it can
    only be discarded.
    """

    lot = models.ForeignKey(Lot, on_delete=models.PROTECT, related_name="opened_vials")
    method = models.CharField(max_length=20)
    opened_at = models.DateTimeField(default=timezone.now)
    opened_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    beyond_use_at = models.DateTimeField()
    volume_ml = models.DecimalField(max_digits=6, decimal_places=2)
    volume_drawn_ml = models.DecimalField(max_digits=6, decimal_places=2, default=Decimal("0"))
    movement = models.OneToOneField(StockMovement, on_delete=models.PROTECT, related_name="opened_vial")
    discarded_at = models.DateTimeField(null=True, blank=True)
    discarded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    discard_reason = models.CharField(max_length=20, choices=WasteReason.choices, blank=True)

    objects = OpenedVialQuerySet.as_manager()

    class Meta:
        ordering = ["beyond_use_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(volume_drawn_ml__gte=0) & Q(volume_drawn_ml__lte=F("volume_ml")),
                name="vial_drawn_within_volume",
            ),
            models.CheckConstraint(
                condition=Q(beyond_use_at__gt=F("opened_at")), name="vial_window_after_open"
            ),
        ]
        indexes = [models.Index(fields=["discarded_at", "beyond_use_at"])]
        permissions = [("open_vial", "Can open, draw from and discard vials")]

    def __str__(self) -> str:
        return f"{self.lot} vial {self.method} {self.opened_at:%Y-%m-%d %H:%M}"

    @property
    def volume_left_ml(self) -> Decimal:
        return self.volume_ml - self.volume_drawn_ml

    @property
    def is_beyond_use(self) -> bool:
        return timezone.now() >= self.beyond_use_at

    @property
    def time_left(self) -> dt.timedelta:
        return max(self.beyond_use_at - timezone.now(), dt.timedelta(0))

    @property
    def state(self) -> str:
        if self.discarded_at:
            return "discarded"
        if self.is_beyond_use:
            return "beyond_use"
        if self.volume_left_ml <= 0:
            return "empty"
        return "open"


class VialDraw(models.Model):
    """Volume drawn from an opened vial for one patient (or one treatment record)."""

    vial = models.ForeignKey(OpenedVial, on_delete=models.PROTECT, related_name="draws")
    volume_ml = models.DecimalField(max_digits=6, decimal_places=2)
    reference = models.CharField(max_length=80, blank=True)
    drawn_at = models.DateTimeField(default=timezone.now)
    drawn_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["drawn_at", "id"]
        constraints = [models.CheckConstraint(condition=Q(volume_ml__gt=0), name="draw_volume_positive")]

    def __str__(self) -> str:
        return f"{self.volume_ml} mL from {self.vial}"

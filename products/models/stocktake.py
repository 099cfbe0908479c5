"""Stock-takes: a count of one storage unit or a whole location, kept as a report.

A stock-take snapshots the lots in stock when it starts (the quantity the ledger expects),
collects what was counted on the shelf (saved as often as the counter likes), and is posted
in one step: every difference becomes a count adjustment (``stock_adjust``) with its reason.
Only the stock services change quantities; a stock-take only records and calls them.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from clinic.scoping import LocationScopedQuerySet


class StockTakeStatus(models.TextChoices):
    DRAFT = "draft", "Counting"
    POSTED = "posted", "Posted"
    CANCELLED = "cancelled", "Cancelled"


STOCKTAKE_TONES = {
    StockTakeStatus.DRAFT: "warning",
    StockTakeStatus.POSTED: "success",
    StockTakeStatus.CANCELLED: "secondary",
}


class StockTakeQuerySet(LocationScopedQuerySet):
    location_lookup = "location"

    def drafts(self) -> StockTakeQuerySet:
        """Still being counted (neither posted nor cancelled)."""
        return self.filter(status=StockTakeStatus.DRAFT)

    def overlapping(self, *, location, storage_unit=None) -> StockTakeQuerySet:
        """Drafts that count some of the same shelves: the whole location, or the same unit
        (a whole-location count overlaps every unit's)."""
        drafts = self.drafts().filter(location=location)
        if storage_unit is None:
            return drafts
        return drafts.filter(Q(storage_unit__isnull=True) | Q(storage_unit=storage_unit))


class StockTake(models.Model):
    """A count of the sealed stock in one storage unit, or every unit of a location.

    Its lines are the lots that were in stock when it started. Posted, it is a read-only
    report: what was expected, what was counted, and the adjustment each difference made.
    """

    location = models.ForeignKey("clinic.Location", on_delete=models.PROTECT, related_name="stock_takes")
    storage_unit = models.ForeignKey(
        "products.StorageUnit",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="stock_takes",
        help_text="Empty: every storage unit of the location.",
    )
    status = models.CharField(max_length=10, choices=StockTakeStatus.choices, default=StockTakeStatus.DRAFT)
    note = models.CharField(max_length=300, blank=True)
    started_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    started_at = models.DateTimeField(default=timezone.now)
    posted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    posted_at = models.DateTimeField(null=True, blank=True)
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    cancelled_at = models.DateTimeField(null=True, blank=True)

    objects = StockTakeQuerySet.as_manager()

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status="posted", posted_at__isnull=False, posted_by__isnull=False)
                | ~Q(status="posted") & Q(posted_at__isnull=True),
                name="stocktake_posted_has_when_and_who",
            ),
        ]
        indexes = [models.Index(fields=["location", "status", "started_at"])]

    def __str__(self) -> str:
        return f"Stock-take #{self.pk} of {self.scope_label}"

    @property
    def scope_label(self) -> str:
        if self.storage_unit_id:
            return f"{self.storage_unit.name}, {self.location.name}"
        return f"all units at {self.location.name}"

    @property
    def is_draft(self) -> bool:
        return self.status == StockTakeStatus.DRAFT

    @property
    def status_tone(self) -> str:
        return STOCKTAKE_TONES[StockTakeStatus(self.status)]


class StockTakeLineQuerySet(LocationScopedQuerySet):
    location_lookup = "stock_take__location"

    def for_count(self) -> StockTakeLineQuerySet:
        """The lines in shelf order, with what every count page and report shows (one query)."""
        return self.select_related("lot__product", "storage_unit", "movement").order_by(
            "storage_unit__name", "storage_unit_id", "lot__product__name", "lot__expiry_date", "lot_id"
        )

    def uncounted(self) -> StockTakeLineQuerySet:
        return self.filter(counted_quantity__isnull=True)

    def differing(self) -> StockTakeLineQuerySet:
        """Counted, and not what the ledger expected."""
        return self.filter(counted_quantity__isnull=False).exclude(
            counted_quantity=models.F("expected_quantity")
        )


class StockTakeLine(models.Model):
    """One lot row in a stock-take: the quantity expected at the start, and the count.

    One line per ``Lot`` row (each row is the stock of that lot in one storage unit).
    ``storage_unit`` is where the lot was when the count started, so the report still says
    where it was counted if the lot moves later.
    """

    stock_take = models.ForeignKey(StockTake, on_delete=models.CASCADE, related_name="lines")
    lot = models.ForeignKey("products.Lot", on_delete=models.PROTECT, related_name="stock_take_lines")
    storage_unit = models.ForeignKey("products.StorageUnit", on_delete=models.PROTECT, related_name="+")
    expected_quantity = models.PositiveIntegerField(help_text="Sealed vials on record when counting began.")
    counted_quantity = models.PositiveIntegerField(null=True, blank=True)
    counted_at = models.DateTimeField(null=True, blank=True)
    counted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    needs_recount = models.BooleanField(
        default=False, help_text="The lot's stock changed while it was being counted: count it again."
    )
    reason = models.CharField("reason for the difference", max_length=200, blank=True)
    movement = models.OneToOneField(
        "products.StockMovement",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="stock_take_line",
        help_text="The count adjustment posted for this line's difference.",
    )

    objects = StockTakeLineQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["stock_take", "lot"], name="stocktake_line_one_per_lot"),
        ]

    def __str__(self) -> str:
        return f"{self.lot} in stock-take #{self.stock_take_id}"

    @property
    def is_counted(self) -> bool:
        return self.counted_quantity is not None

    @property
    def difference(self) -> int | None:
        """Counted minus expected (None until counted)."""
        if self.counted_quantity is None:
            return None
        return self.counted_quantity - self.expected_quantity

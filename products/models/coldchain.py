"""Storage units, temperature readings and excursions (the cold chain)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from clinic.scoping import LocationScopedQuerySet

# Logger calibration certificates run one or two years; more than five is a typo.
CALIBRATION_YEARS_MAX = 5


class UnitKind(models.TextChoices):
    FRIDGE = "fridge", "Refrigerator (2–8 °C)"
    FREEZER_20 = "freezer_20", "Freezer (−20 °C)"
    FREEZER_80 = "freezer_80", "Freezer (−80 °C)"
    AMBIENT = "ambient", "Ambient cabinet"


UNIT_RANGES: dict[str, tuple[Decimal, Decimal]] = {
    UnitKind.FRIDGE: (Decimal("2"), Decimal("8")),
    UnitKind.FREEZER_20: (Decimal("-25"), Decimal("-15")),
    UnitKind.FREEZER_80: (Decimal("-90"), Decimal("-60")),
    UnitKind.AMBIENT: (Decimal("15"), Decimal("25")),
}


class LoggerClock(models.TextChoices):
    """The clock a unit's data logger writes its times in (times in a file carry no zone)."""

    LOCAL = "local", "The clinic's local time (follows daylight saving)"
    UTC = "utc", "UTC all year"
    FIXED = "fixed", "A fixed offset from UTC, no daylight saving"


class StorageUnit(models.Model):
    """A refrigerator, freezer or cabinet at one location, with its allowed range."""

    location = models.ForeignKey("clinic.Location", on_delete=models.PROTECT, related_name="storage_units")
    name = models.CharField(max_length=80)
    kind = models.CharField(max_length=20, choices=UnitKind.choices)
    min_c = models.DecimalField(
        "allowed minimum (°C)", max_digits=5, decimal_places=1, blank=True,
        help_text="Leave empty to use the kind's default.",
    )  # fmt: skip
    max_c = models.DecimalField(
        "allowed maximum (°C)", max_digits=5, decimal_places=1, blank=True,
        help_text="Leave empty to use the kind's default.",
    )  # fmt: skip
    logger_id = models.CharField("data-logger id", max_length=60, blank=True)
    logger_clock = models.CharField(
        "data-logger clock", max_length=10, choices=LoggerClock.choices, default=LoggerClock.LOCAL,
        help_text="How the logger's times are read. On the nights the clocks change, a local "
        "time that does not exist, or happens twice, is resolved by this or reported.",
    )  # fmt: skip
    logger_utc_offset_minutes = models.SmallIntegerField(
        "fixed offset from UTC (minutes)", null=True, blank=True,
        help_text="For a fixed-offset clock: e.g. 0 for GMT all year, 60 for CET without summer time.",
    )  # fmt: skip
    logger_interval_minutes = models.PositiveSmallIntegerField(
        "data-logger interval (minutes)", null=True, blank=True,
        help_text="How often the logger records. Learnt from its files when empty; a longer "
        "spacing between samples is missing data.",
    )  # fmt: skip
    calibration_expires_on = models.DateField("calibration certificate expires", null=True, blank=True)
    is_active = models.BooleanField(default=True)
    # Checks are due from here on: a unit is not "missing" checks from before it existed.
    created_at = models.DateTimeField(default=timezone.now)
    # Breach rules: when an excursion holds the stock and alerts managers. 0 minutes is any
    # reading out of range (CDC); e.g. mSupply's defaults are 30/60 too warm, 20/40 too cold.
    # Shorter dips are still recorded, with each lot's minutes, but hold nothing.
    warm_after_minutes = models.PositiveIntegerField(
        "too warm: breach after (minutes continuously)", default=0
    )
    warm_cumulative_minutes = models.PositiveIntegerField(
        "too warm: breach after (minutes within 24 h)", null=True, blank=True,
        help_text="Leave empty for no cumulative rule.",
    )  # fmt: skip
    cold_after_minutes = models.PositiveIntegerField(
        "too cold: breach after (minutes continuously)", default=0
    )
    cold_cumulative_minutes = models.PositiveIntegerField(
        "too cold: breach after (minutes within 24 h)", null=True, blank=True,
        help_text="Leave empty for no cumulative rule.",
    )  # fmt: skip

    objects = LocationScopedQuerySet.as_manager()

    class Meta:
        ordering = ["location__name", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["location", "name"], name="storage_unit_name_unique_per_location"
            ),
            models.CheckConstraint(condition=Q(min_c__lt=F("max_c")), name="storage_unit_range_ordered"),
            models.CheckConstraint(
                condition=~Q(logger_clock="fixed")
                | Q(logger_utc_offset_minutes__gte=-720, logger_utc_offset_minutes__lte=840),
                name="storage_unit_fixed_clock_has_offset",
            ),
            models.CheckConstraint(
                condition=Q(logger_interval_minutes__isnull=True) | Q(logger_interval_minutes__gte=1),
                name="storage_unit_logger_interval_positive",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.location})" if self.location_id else self.name

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        expires = self.calibration_expires_on
        latest = timezone.localdate() + dt.timedelta(days=366 * CALIBRATION_YEARS_MAX)
        if expires is not None and not dt.date(2000, 1, 1) <= expires <= latest:
            raise ValidationError(
                {"calibration_expires_on": "A calibration runs a few years at most: check the date."}
            )
        default_lo, default_hi = UNIT_RANGES.get(self.kind, UNIT_RANGES[UnitKind.FRIDGE])
        if self.min_c is None:
            self.min_c = default_lo
        if self.max_c is None:
            self.max_c = default_hi
        if self.min_c >= self.max_c:
            raise ValidationError({"max_c": "The maximum must be above the minimum."})
        if self.logger_clock == LoggerClock.FIXED:
            offset = self.logger_utc_offset_minutes
            if offset is None:
                raise ValidationError(
                    {"logger_utc_offset_minutes": "Give the logger clock's offset from UTC, e.g. 0 or 60."}
                )
            if not -720 <= offset <= 840:
                raise ValidationError(
                    {"logger_utc_offset_minutes": "An offset from UTC lies between −720 and +840 minutes."}
                )

    @property
    def logger_tzinfo(self) -> dt.tzinfo:
        """The zone the logger's wall-clock times are written in."""
        if self.logger_clock == LoggerClock.UTC:
            return dt.UTC
        if self.logger_clock == LoggerClock.FIXED:
            return dt.timezone(dt.timedelta(minutes=self.logger_utc_offset_minutes or 0))
        return timezone.get_current_timezone()

    @property
    def logger_interval(self) -> dt.timedelta | None:
        return dt.timedelta(minutes=self.logger_interval_minutes) if self.logger_interval_minutes else None

    @property
    def is_freezer(self) -> bool:
        return self.kind in (UnitKind.FREEZER_20, UnitKind.FREEZER_80)

    def in_range(self, value: Decimal) -> bool:
        return self.min_c <= value <= self.max_c

    @property
    def calibration_expired(self) -> bool:
        return bool(self.calibration_expires_on and self.calibration_expires_on < timezone.localdate())


class ReadingSource(models.TextChoices):
    MANUAL = "manual", "Manual check"
    LOGGER = "logger", "Data logger"


class ReadingQuerySet(LocationScopedQuerySet):
    location_lookup = "storage_unit__location"


class TemperatureReading(models.Model):
    """One temperature: a manual check (current, min, max) or a data-logger sample."""

    # No index of its own: the unique (unit, time, source) key and the chart index lead with it.
    storage_unit = models.ForeignKey(
        StorageUnit, on_delete=models.PROTECT, related_name="readings", db_index=False
    )
    taken_at = models.DateTimeField()
    temperature_c = models.DecimalField(max_digits=5, decimal_places=2)
    min_c = models.DecimalField("minimum since last check (°C)", max_digits=5, decimal_places=2, null=True)
    max_c = models.DecimalField("maximum since last check (°C)", max_digits=5, decimal_places=2, null=True)
    source = models.CharField(max_length=10, choices=ReadingSource.choices)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    batch = models.ForeignKey(
        "products.ReadingImport", null=True, blank=True, on_delete=models.PROTECT, related_name="readings"
    )

    objects = ReadingQuerySet.as_manager()

    class Meta:
        ordering = ["taken_at", "id"]
        constraints = [
            # Importing overlapping logger files never doubles a sample.
            models.UniqueConstraint(
                fields=["storage_unit", "taken_at", "source"], name="reading_unique_per_unit_time_source"
            ),
        ]
        indexes = [
            # Covers the chart's aggregation: an index-only scan on PostgreSQL. (A plain key
            # column rather than INCLUDE, which SQLite would ignore with a system-check warning.)
            models.Index(fields=["storage_unit", "taken_at", "temperature_c"], name="reading_unit_time_temp"),
        ]
        permissions = [("import_readings", "Can import data-logger files")]

    def __str__(self) -> str:
        return f"{self.storage_unit.name} {self.taken_at:%Y-%m-%d %H:%M} {self.temperature_c} °C"

    @property
    def lowest(self) -> Decimal:
        return min(v for v in (self.temperature_c, self.min_c) if v is not None)

    @property
    def highest(self) -> Decimal:
        return max(v for v in (self.temperature_c, self.max_c) if v is not None)


class ImportQuerySet(LocationScopedQuerySet):
    location_lookup = "storage_unit__location"


class ImportStatus(models.TextChoices):
    PENDING = "pending", "Waiting for the date format"
    IMPORTED = "imported", "Imported"
    REFUSED = "refused", "Refused"


class ImportChannel(models.TextChoices):
    UPLOAD = "upload", "Uploaded"
    COMMAND = "command", "Import command"
    FEED = "feed", "Networked logger"


class ReadingImport(models.Model):
    """One data-logger file or pushed batch, with the summary that accounts for every line.

    Its hash makes a second import of the same file a no-op. A refused file is kept too, with
    its reasons, so the unit page shows what was tried and why nothing was imported.
    """

    storage_unit = models.ForeignKey(StorageUnit, on_delete=models.PROTECT, related_name="imports")
    sha256 = models.CharField(max_length=64)
    filename = models.CharField(max_length=200)
    status = models.CharField(max_length=10, choices=ImportStatus.choices, default=ImportStatus.IMPORTED)
    channel = models.CharField(max_length=10, choices=ImportChannel.choices, default=ImportChannel.UPLOAD)
    # The original file, kept privately with its summary (and read again once a pending
    # import's date format is answered).
    file_name = models.CharField(max_length=255, blank=True, editable=False)
    layout = models.CharField(max_length=40, blank=True, help_text="The export layout recognised.")
    date_format = models.CharField(max_length=40, blank=True)
    temperature_unit = models.CharField(max_length=1, blank=True)
    logger_clock = models.CharField(max_length=40, blank=True, help_text="The clock the times were read in.")
    lines = models.PositiveIntegerField(default=0, help_text="Lines in the file.")
    skipped = models.PositiveIntegerField(default=0, help_text="Preamble, header and blank lines.")
    # lines = skipped + rows + refused; once imported, rows = added + already_held.
    rows = models.PositiveIntegerField(default=0, help_text="Readings read from the file.")
    added = models.PositiveIntegerField(default=0)
    already_held = models.PositiveIntegerField(
        default=0, help_text="Readings the unit already had, or repeated within the file."
    )
    refused = models.PositiveIntegerField(default=0, help_text="Lines that could not be read.")
    first_at = models.DateTimeField(null=True, blank=True)
    last_at = models.DateTimeField(null=True, blank=True)
    # Line numbers and reasons (refused lines, skipped groups, clock notes, the preamble's
    # device details, the date-format question): see products.services.readings.
    summary = models.JSONField(default=dict, blank=True)
    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    imported_at = models.DateTimeField(default=timezone.now)

    objects = ImportQuerySet.as_manager()

    class Meta:
        ordering = ["-imported_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["storage_unit", "sha256"],
                condition=Q(status="imported"),
                name="reading_import_file_once_per_unit",
            )
        ]

    def __str__(self) -> str:
        return f"{self.filename} → {self.storage_unit.name}"


class LoggerFeedToken(models.Model):
    """A revocable token with which one networked logger or gateway pushes one unit's readings.

    Only its SHA-256 is stored (the token is 256 random bits, shown once); ``prefix`` lets
    staff tell tokens apart.
    """

    storage_unit = models.ForeignKey(StorageUnit, on_delete=models.PROTECT, related_name="feed_tokens")
    name = models.CharField(max_length=80, help_text="Which logger or gateway uses it.")
    prefix = models.CharField(max_length=12)
    digest = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…) → {self.storage_unit.name}"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class ExcursionQuerySet(LocationScopedQuerySet):
    location_lookup = "storage_unit__location"

    def open(self) -> ExcursionQuerySet:
        """Not closed yet: awaiting review (the unit may be back in range)."""
        return self.filter(closed_at__isnull=True)

    def ongoing(self) -> ExcursionQuerySet:
        """Still going on: no reading back in range since (``Excursion.is_ongoing``)."""
        return self.filter(closed_at__isnull=True, back_in_range_at__isnull=True, end_unknown=False)


class Excursion(models.Model):
    """One spell outside a unit's allowed range: from the first reading outside it to the first
    reading back inside (readings out of range separated by one in range are two excursions).

    It holds the lots that were in the unit during the spell (read from the stock ledger),
    each with its minutes of exposure; a manager closes it with the CDC
    storage-troubleshooting record and a decision per lot. Closed means frozen: corrections
    are addenda.
    """

    storage_unit = models.ForeignKey(StorageUnit, on_delete=models.PROTECT, related_name="excursions")
    started_at = models.DateTimeField()
    last_out_at = models.DateTimeField(help_text="The last reading outside the range.")
    back_in_range_at = models.DateTimeField(null=True, blank=True)
    end_unknown = models.BooleanField(
        default=False,
        help_text="No reading for a long time after the last one out of range (the next readings "
        "belong to another event): the end is not known, the duration counts to the last reading out.",
    )
    lowest_c = models.DecimalField(max_digits=5, decimal_places=2)
    highest_c = models.DecimalField(max_digits=5, decimal_places=2)
    breach = models.CharField(
        max_length=160, blank=True, help_text="The breach rule it met (stock held); empty: below the rules."
    )
    # The review (CDC vaccine storage troubleshooting record).
    what_happened = models.TextField(blank=True)
    temperature_when_found_c = models.DecimalField(
        "temperature when found (°C)", max_digits=5, decimal_places=1, null=True, blank=True
    )
    room_temperature_c = models.DecimalField(
        "room temperature (°C)", max_digits=5, decimal_places=1, null=True, blank=True
    )
    found_by = models.CharField(max_length=120, blank=True)
    manufacturer_contact = models.CharField("manufacturer contacted (who)", max_length=120, blank=True)
    manufacturer_contacted_at = models.DateTimeField("manufacturer contacted (when)", null=True, blank=True)
    manufacturer_answer = models.TextField("manufacturer's answer", blank=True)
    prevention = models.TextField("action taken to prevent it again", blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    closed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = ExcursionQuerySet.as_manager()

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(last_out_at__gte=F("started_at")), name="excursion_end_after_start"
            ),
            models.CheckConstraint(
                condition=Q(lowest_c__lte=F("highest_c")), name="excursion_low_below_high"
            ),
            # Several may await review, but only one can still be going on in a unit.
            models.UniqueConstraint(
                fields=["storage_unit"],
                condition=Q(closed_at__isnull=True, back_in_range_at__isnull=True, end_unknown=False),
                name="excursion_one_ongoing_per_unit",
            ),
        ]
        indexes = [models.Index(fields=["storage_unit", "started_at"])]
        permissions = [("review_excursion", "Can review and close excursions")]

    def __str__(self) -> str:
        return f"Excursion #{self.pk} {self.storage_unit.name} {self.started_at:%Y-%m-%d %H:%M}"

    @property
    def is_open(self) -> bool:
        return self.closed_at is None

    @property
    def ended_at(self):
        if self.back_in_range_at or self.end_unknown:
            return self.back_in_range_at or self.last_out_at
        return None if self.is_open else self.last_out_at

    @property
    def is_ongoing(self) -> bool:
        """Still out of range: open and no reading back inside the range yet."""
        return self.is_open and self.back_in_range_at is None and not self.end_unknown

    def exposure_end(self, now: dt.datetime | None = None) -> dt.datetime:
        """Until when stock in the unit counts as exposed: back in range, else the last
        reading out (end unknown), else now (still going on)."""
        if self.back_in_range_at:
            return self.back_in_range_at
        if self.end_unknown or not self.is_open:
            return self.last_out_at
        return max(now or timezone.now(), self.last_out_at)

    @property
    def duration(self):
        """How long the unit was out of range; while that lasts, the time elapsed so far.

        (``last_out_at`` is only the last reading outside: for an excursion still under way
        it would say 0 min for one that started hours ago with a single reading.)
        """
        if self.is_ongoing:
            return max(timezone.now() - self.started_at, dt.timedelta(0))
        return (self.back_in_range_at or self.last_out_at) - self.started_at

    @property
    def location(self):
        return self.storage_unit.location


class Decision(models.TextChoices):
    RELEASE = "release", "Release for use"
    DISCARD = "discard", "Discard"


class ExcursionLot(models.Model):
    """A lot that was in the unit during an excursion, how long, and the manager's decision."""

    excursion = models.ForeignKey(Excursion, on_delete=models.CASCADE, related_name="lots")
    lot = models.ForeignKey("products.Lot", on_delete=models.PROTECT, related_name="excursions")
    quantity_at_start = models.IntegerField(help_text="Sealed vials when its exposure began.")
    exposed_minutes = models.PositiveIntegerField(
        default=0, help_text="Minutes in the unit while it was out of range (so far, while ongoing)."
    )
    decision = models.CharField(max_length=10, choices=Decision.choices, blank=True)
    reason = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["excursion", "lot"], name="excursion_lot_once")]

    def __str__(self) -> str:
        return f"{self.lot} in {self.excursion}"


class ExcursionAddendum(models.Model):
    """A correction or later fact added to a closed excursion (which is never edited)."""

    excursion = models.ForeignKey(Excursion, on_delete=models.PROTECT, related_name="addenda")
    text = models.TextField()
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"Addendum to {self.excursion}"

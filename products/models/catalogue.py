"""The product catalogue: what a clinic buys, how it is stored and how long it keeps once open."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from products.models.compliance import Classification, cleared_condition


class Source(models.TextChoices):
    MSC_UMBILICAL = "msc_umbilical", "MSC – umbilical cord"
    MSC_ADIPOSE = "msc_adipose", "MSC – adipose"
    MSC_BONE_MARROW = "msc_bone_marrow", "MSC – bone marrow"
    AMNIOTIC = "amniotic", "Amniotic"
    PLACENTA = "placenta", "Placenta"
    PLANT = "plant", "Plant"
    PLATELET_ALLOGENEIC = "platelet_allogeneic", "Platelet – allogeneic"
    PLATELET_AUTOLOGOUS = "platelet_autologous", "Platelet – autologous"
    CONDITIONED_MEDIA = "conditioned_media", "Conditioned media / secretome"
    OTHER = "other", "Other"


class Format(models.TextChoices):
    LYOPHILISED = "lyophilised", "Lyophilised"
    REFRIGERATED_LIQUID = "refrigerated_liquid", "Refrigerated liquid"
    FROZEN = "frozen", "Frozen"
    TAKE_HOME = "take_home", "Clinic-made take-home"


# Storage range (°C) and use-within window (hours after reconstitution / thaw / opening)
# each format starts with; the product form lets the manager change both to the label's.
FORMAT_DEFAULTS: dict[str, dict] = {
    Format.LYOPHILISED: {"min_c": Decimal("2"), "max_c": Decimal("8"), "hours": 4},
    Format.REFRIGERATED_LIQUID: {"min_c": Decimal("2"), "max_c": Decimal("8"), "hours": 24},
    Format.FROZEN: {"min_c": Decimal("-90"), "max_c": Decimal("-15"), "hours": 6},
    # Clinic-made take-home preparations are discarded after at most two weeks.
    Format.TAKE_HOME: {"min_c": Decimal("2"), "max_c": Decimal("8"), "hours": 14 * 24},
}

# What opening a vial of each format is called (the opened-vial record keeps it).
OPEN_METHOD = {
    Format.LYOPHILISED: "reconstituted",
    Format.REFRIGERATED_LIQUID: "opened",
    Format.FROZEN: "thawed",
    Format.TAKE_HOME: "opened",
}


class ProductQuerySet(models.QuerySet):
    def active(self) -> ProductQuerySet:
        return self.filter(is_active=True)

    def with_clearance(self) -> ProductQuerySet:
        """Annotate ``is_cleared`` (the rules table in SQL: Exists subqueries, one query)."""
        return self.annotate(
            is_cleared=models.ExpressionWrapper(cleared_condition(), output_field=models.BooleanField())
        )

    def cleared(self, today=None) -> ProductQuerySet:
        """Products cleared for use ``today`` (``cleared_condition``)."""
        return self.filter(cleared_condition(today=today))


class Product(models.Model):
    """A finished exosome product as the clinic buys it (one row per presentation).

    Its regulatory classification, the jurisdictions that holds for and the routes the
    classification intends sit here too; its documents are ``RegulatoryDocument`` rows. A
    manager's approval (who, when) is cleared whenever the classification changes, so a
    product is never used on an approval given for another classification
    (``products.compliance`` holds the rules).
    """

    name = models.CharField(max_length=150)
    manufacturer = models.CharField(max_length=150)
    supplier = models.CharField(max_length=150, blank=True)
    gtin = models.CharField(
        "GTIN",
        max_length=14,
        blank=True,
        help_text="From the box barcode; lets a scanned lot find its product.",
    )
    source = models.CharField(max_length=30, choices=Source.choices)
    format = models.CharField(max_length=30, choices=Format.choices)
    storage_min_c = models.DecimalField(
        "storage minimum (°C)", max_digits=5, decimal_places=1, blank=True,
        help_text="Leave empty to use the format's default.",
    )  # fmt: skip
    storage_max_c = models.DecimalField(
        "storage maximum (°C)", max_digits=5, decimal_places=1, blank=True,
        help_text="Leave empty to use the format's default.",
    )  # fmt: skip
    vial_volume_ml = models.DecimalField("vial volume (mL)", max_digits=6, decimal_places=2)
    concentration_per_ml = models.DecimalField(
        "stated concentration (particles/mL)",
        max_digits=20,
        decimal_places=0,
        null=True,
        blank=True,
        help_text="As the label states it; there is no agreed measuring standard.",
    )
    diluent = models.CharField("reconstitution diluent", max_length=120, blank=True)
    diluent_volume_ml = models.DecimalField(
        "diluent volume (mL)", max_digits=6, decimal_places=2, null=True, blank=True
    )
    use_within_hours = models.PositiveIntegerField(
        "use within (hours)",
        blank=True,
        help_text="After reconstitution, thaw or opening. Leave empty to use the format's default.",
    )
    route_topical = models.BooleanField("topical (microchannels)", default=True)
    route_intradermal = models.BooleanField("intradermal injection", default=False)
    route_scalp = models.BooleanField("scalp injection", default=False)
    areas = models.CharField("suitable areas", max_length=200, blank=True, help_text="e.g. face, neck, scalp")
    periorbital_suitable = models.BooleanField("suitable for the periorbital zone", default=False)
    unit_cost = models.DecimalField("unit cost (£)", max_digits=9, decimal_places=2, null=True, blank=True)
    is_active = models.BooleanField(default=True)
    # Regulation: what the supplier states the product is, and where that holds.
    classification = models.CharField(
        max_length=20, choices=Classification.choices, default=Classification.UNKNOWN
    )
    jurisdictions = models.JSONField(
        default=list, blank=True, help_text="Where the classification holds (e.g. UK, EU, KR)."
    )
    intended_topical = models.BooleanField("intended for topical use (microchannels)", default=False)
    intended_intradermal = models.BooleanField("intended for intradermal injection", default=False)
    intended_scalp = models.BooleanField("intended for scalp injection", default=False)
    approved_at = models.DateTimeField("approved for use at", null=True, blank=True, editable=False)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        editable=False,
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ProductQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(storage_min_c__lt=models.F("storage_max_c")), name="product_storage_range_ordered"
            ),
            models.CheckConstraint(condition=Q(use_within_hours__gt=0), name="product_use_within_positive"),
            models.CheckConstraint(condition=Q(vial_volume_ml__gt=0), name="product_vial_volume_positive"),
            models.UniqueConstraint(
                fields=["gtin"], condition=~Q(gtin=""), name="product_gtin_unique_when_set"
            ),
        ]
        indexes = [models.Index(fields=["format", "name"])]
        permissions = [
            ("approve_product", "Can approve or revoke a product's clearance for use"),
            ("view_compliance", "Can see the compliance dashboard and export"),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.gtin and (not self.gtin.isdigit() or len(self.gtin) not in (8, 12, 13, 14)):
            raise ValidationError({"gtin": "A GTIN is 8, 12, 13 or 14 digits."})
        if self.gtin:
            from products.gs1 import gtin_check_digit_ok

            if not gtin_check_digit_ok(self.gtin):
                raise ValidationError({"gtin": "This GTIN's check digit is wrong; scan it again."})
            self.gtin = self.gtin.zfill(14)
        if self.unit_cost is not None and self.unit_cost < 0:
            # It feeds the stock valuation: a negative cost would make stock worth less than none.
            raise ValidationError({"unit_cost": "A unit cost cannot be negative."})
        if self.classification == Classification.COSMETIC and (
            self.intended_intradermal or self.intended_scalp
        ):
            # A cosmetic is applied to the skin's surface by definition; injecting it is off-label.
            raise ValidationError(
                {"classification": "A cosmetic is for topical use only; it cannot be intended for injection."}
            )
        # The range and window start from the format's defaults and are stored, so a later
        # change of defaults never silently moves an existing product's limits.
        if self.storage_min_c is None:
            self.storage_min_c = self.defaults["min_c"]
        if self.storage_max_c is None:
            self.storage_max_c = self.defaults["max_c"]
        if self.use_within_hours is None:
            self.use_within_hours = self.defaults["hours"]
        lo, hi = self.min_c, self.max_c
        if lo is not None and hi is not None and lo >= hi:
            raise ValidationError({"storage_max_c": "The maximum must be above the minimum."})
        if self.format == Format.LYOPHILISED and not self.diluent_volume_ml:
            raise ValidationError(
                {"diluent_volume_ml": "A lyophilised product needs the volume it is reconstituted with."}
            )

    @property
    def defaults(self) -> dict:
        return FORMAT_DEFAULTS.get(self.format, FORMAT_DEFAULTS[Format.REFRIGERATED_LIQUID])

    @property
    def min_c(self) -> Decimal:
        return self.storage_min_c if self.storage_min_c is not None else self.defaults["min_c"]

    @property
    def max_c(self) -> Decimal:
        return self.storage_max_c if self.storage_max_c is not None else self.defaults["max_c"]

    @property
    def beyond_use_hours(self) -> int:
        return self.use_within_hours or self.defaults["hours"]

    @property
    def open_method(self) -> str:
        return OPEN_METHOD.get(self.format, "opened")

    @property
    def opened_volume_ml(self) -> Decimal:
        """What an opened vial holds: the diluent volume once reconstituted, else the fill."""
        if self.format == Format.LYOPHILISED and self.diluent_volume_ml:
            return self.diluent_volume_ml
        return self.vial_volume_ml

    @property
    def intended_routes(self) -> list[str]:
        """The routes the classification intends (the label's routes are ``routes``)."""
        names = []
        if self.intended_topical:
            names.append("topical")
        if self.intended_intradermal:
            names.append("intradermal")
        if self.intended_scalp:
            names.append("scalp")
        return names

    @property
    def is_approved(self) -> bool:
        return self.approved_at is not None

    @property
    def routes(self) -> list[str]:
        names = []
        if self.route_topical:
            names.append("topical")
        if self.route_intradermal:
            names.append("intradermal")
        if self.route_scalp:
            names.append("scalp")
        return names

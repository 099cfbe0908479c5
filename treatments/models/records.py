"""Treatment records: what was done at a session, with which lots, signed and locked.

A record is written only by ``treatments.services.records.treatment_record_save``, which
draws the stock through the products ledger in the same transaction. Once signed the
record is locked; corrections are addenda (reason + text), shown with the original.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from clinic.scoping import LocationScopedQuerySet
from treatments.models.clinical import PatientConsent, Screening
from treatments.models.sessions import Session


class Route(models.TextChoices):
    TOPICAL = "topical", "Topical via open microchannels"
    INTRADERMAL = "intradermal", "Intradermal injection (nappage)"
    SCALP = "scalp", "Scalp injection (intradermal/subdermal)"
    OTHER = "other", "Other"


class Area(models.TextChoices):
    FACE = "face", "Face"
    NECK = "neck", "Neck"
    DECOLLETAGE = "decolletage", "Décolletage"
    SCALP = "scalp", "Scalp"
    PERIORBITAL = "periorbital", "Periorbital"


class CombinedProcedure(models.TextChoices):
    NONE = "", "None"
    MICRONEEDLING = "microneedling", "Microneedling"
    FRACTIONAL_LASER = "fractional_laser", "Fractional laser"
    RF_MICRONEEDLING = "rf_microneedling", "RF microneedling"
    PRP = "prp", "PRP"
    OTHER = "other", "Other"


# Procedures that open microchannels, after which a topical product can penetrate.
CHANNEL_OPENING = {
    CombinedProcedure.MICRONEEDLING,
    CombinedProcedure.FRACTIONAL_LASER,
    CombinedProcedure.RF_MICRONEEDLING,
}


class Anaesthesia(models.TextChoices):
    NONE = "none", "None"
    TOPICAL = "topical", "Topical"
    NERVE_BLOCK = "nerve_block", "Nerve block"


class Severity(models.TextChoices):
    MILD = "mild", "Mild"
    MODERATE = "moderate", "Moderate"
    SEVERE = "severe", "Severe"


class LineSource(models.TextChoices):
    SEALED = "sealed", "Sealed vial(s)"
    OPENED = "opened", "Drawn from an opened vial"
    OPEN_NEW = "open_new", "Open a new vial and draw"


class TreatmentRecordQuerySet(LocationScopedQuerySet):
    location_lookup = "session__location"


class TreatmentRecord(models.Model):
    """The clinical record of one session (one per session): checks made, procedure, lines."""

    session = models.OneToOneField(Session, on_delete=models.PROTECT, related_name="record")
    practitioner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    consent = models.ForeignKey(PatientConsent, on_delete=models.PROTECT, related_name="records")
    screening = models.ForeignKey(Screening, on_delete=models.PROTECT, related_name="records")
    combined_procedure = models.CharField(max_length=20, choices=CombinedProcedure.choices, blank=True)
    combined_settings = models.CharField(
        max_length=300, blank=True, help_text="e.g. microneedling depth 1.0 mm; laser type and settings; RF."
    )
    anaesthesia = models.CharField(max_length=20, choices=Anaesthesia.choices, default=Anaesthesia.NONE)
    post_care = models.TextField("post-care given", blank=True)
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    signed_at = models.DateTimeField(null=True, blank=True)
    signed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    objects = TreatmentRecordQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        permissions = [("sign_treatmentrecord", "Can sign treatment records")]
        constraints = [
            models.CheckConstraint(
                condition=Q(signed_at__isnull=True, signed_by__isnull=True)
                | Q(signed_at__isnull=False, signed_by__isnull=False),
                name="record_signed_with_signer",
            )
        ]

    def __str__(self) -> str:
        return f"Treatment record of {self.session}"

    @property
    def is_signed(self) -> bool:
        return self.signed_at is not None


class ProductLine(models.Model):
    """One product used in a treatment: the lot, the amount and how it was given."""

    record = models.ForeignKey(TreatmentRecord, on_delete=models.PROTECT, related_name="lines")
    lot = models.ForeignKey("products.Lot", on_delete=models.PROTECT, related_name="treatment_lines")
    source = models.CharField(max_length=10, choices=LineSource.choices)
    vials = models.PositiveSmallIntegerField(default=0, help_text="Sealed vials used.")
    volume_ml = models.DecimalField("volume (mL)", max_digits=6, decimal_places=2)
    opened_vial = models.ForeignKey(
        "products.OpenedVial", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    stock_movement = models.ForeignKey(
        "products.StockMovement", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    vial_draw = models.ForeignKey(
        "products.VialDraw", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    route = models.CharField(max_length=20, choices=Route.choices)
    areas = models.JSONField(default=list)
    needle_gauge = models.PositiveSmallIntegerField("needle gauge (G)", null=True, blank=True)
    depth_mm = models.DecimalField("depth (mm)", max_digits=4, decimal_places=2, null=True, blank=True)
    volume_per_point_ml = models.DecimalField(
        "volume per point (mL)", max_digits=5, decimal_places=3, null=True, blank=True
    )
    points = models.PositiveSmallIntegerField("number of points", null=True, blank=True)
    spacing_cm = models.DecimalField("spacing (cm)", max_digits=4, decimal_places=1, null=True, blank=True)
    warnings = models.JSONField(default=list, blank=True, help_text="Outside-usual-range notes at saving.")

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.CheckConstraint(condition=Q(volume_ml__gt=0), name="line_volume_positive"),
            models.CheckConstraint(
                condition=~Q(source="sealed") | Q(vials__gt=0), name="line_sealed_has_vials"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.lot} {self.volume_ml} mL"

    @property
    def area_labels(self) -> str:
        return ", ".join(Area(a).label for a in self.areas if a in Area.values)

    @property
    def amount_text(self) -> str:
        if self.source == LineSource.SEALED:
            return f"{self.vials} vial{'s' if self.vials != 1 else ''} ({self.volume_ml} mL)"
        return f"{self.volume_ml} mL from an opened vial"


class MapView(models.TextChoices):
    """The diagrams of the injection map; a point's x and y are fractions of its diagram."""

    FACE_FRONT = "face_front", "Face, front"
    FACE_LEFT = "face_left", "Face, left oblique"
    FACE_RIGHT = "face_right", "Face, right oblique"
    SCALP = "scalp", "Scalp, from above"


class InjectionPoint(models.Model):
    """Where one injection of a product line went, on one of the map's diagrams.

    Positions are fractions (0–1) of the diagram's width and height, so a point placed on a
    tablet lands on the same spot on a phone, a desktop or paper.
    """

    line = models.ForeignKey(ProductLine, on_delete=models.PROTECT, related_name="map_points")
    number = models.PositiveSmallIntegerField()
    view = models.CharField(max_length=12, choices=MapView.choices)
    x = models.DecimalField(max_digits=5, decimal_places=4)
    y = models.DecimalField(max_digits=5, decimal_places=4)
    volume_ml = models.DecimalField("volume (mL)", max_digits=5, decimal_places=3)
    depth_mm = models.DecimalField("depth (mm)", max_digits=4, decimal_places=2, null=True, blank=True)

    class Meta:
        ordering = ["line_id", "number"]
        constraints = [
            models.UniqueConstraint(fields=["line", "number"], name="injection_point_number_unique"),
            models.CheckConstraint(
                condition=Q(x__gte=0, x__lte=1, y__gte=0, y__lte=1), name="injection_point_on_diagram"
            ),
            models.CheckConstraint(condition=Q(volume_ml__gt=0), name="injection_point_volume_positive"),
            models.CheckConstraint(
                condition=Q(depth_mm__isnull=True) | Q(depth_mm__gt=0), name="injection_point_depth_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"Point {self.number} of line {self.line_id}"


class AdverseEvent(models.Model):
    """Something that went wrong during or after the treatment, and what was done."""

    record = models.ForeignKey(TreatmentRecord, on_delete=models.PROTECT, related_name="adverse_events")
    kind = models.CharField("type", max_length=120)
    severity = models.CharField(max_length=10, choices=Severity.choices)
    action_taken = models.TextField()
    recorded_at = models.DateTimeField()
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["recorded_at", "pk"]

    def __str__(self) -> str:
        return f"{self.kind} ({self.get_severity_display()})"


class Addendum(models.Model):
    """A correction or addition to a signed record; the original stays as signed."""

    record = models.ForeignKey(TreatmentRecord, on_delete=models.PROTECT, related_name="addenda")
    reason = models.CharField(max_length=300)
    text = models.TextField()
    written_at = models.DateTimeField()
    written_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    class Meta:
        verbose_name_plural = "addenda"
        ordering = ["written_at", "pk"]
        constraints = [models.CheckConstraint(condition=~Q(reason=""), name="addendum_has_reason")]

    def __str__(self) -> str:
        return f"Addendum to {self.record_id} ({self.written_at:%Y-%m-%d})"

"""Before/after photos of a session: what was photographed, and where its safe renditions are.

The upload itself is never kept. ``clinic.imaging.process_photo`` turns it into three
metadata-free sRGB JPEGs (full ≤ 4096 px, display ≈ 1600 px, thumbnail ≈ 320 px) which are
stored in ``storages["private"]`` under server-chosen names; a row records each name with its
SHA-256 and size, so a file can be checked against what was stored.

Who may see a photo is decided at read time, not written into the row: the photo's location
(``for_user``), the ``photos.view_photo`` permission, and whether the patient still holds
photography consent (without it only holders of ``photos.view_withdrawn_photo``, the managers,
see the photos). A photo taken in error is retired (``retired_at``), never deleted: the
audit trail keeps pointing at it.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from clinic.models import Location
from clinic.scoping import LocationScopedQuerySet


class PhotoTag(models.TextChoices):
    BEFORE = "before", "Before"
    AFTER = "after", "After"
    FOLLOW_UP = "follow_up", "Follow-up"


class PhotoView(models.TextChoices):
    """The standard angles, in the order a practitioner shoots them (and the gallery shows them)."""

    FRONT = "front", "Front"
    LEFT_45 = "left_45", "Left 45°"
    RIGHT_45 = "right_45", "Right 45°"
    LEFT_PROFILE = "left_profile", "Left profile"
    RIGHT_PROFILE = "right_profile", "Right profile"
    SCALP_TOP = "scalp_top", "Scalp top"
    SCALP_CROWN = "scalp_crown", "Scalp crown"
    CLOSE_UP = "close_up", "Close-up"


VIEW_ORDER = {value: i for i, value in enumerate(PhotoView.values)}
RENDITIONS = ("full", "display", "thumb")


class PhotoQuerySet(LocationScopedQuerySet):
    location_lookup = "location"

    def active(self) -> PhotoQuerySet:
        """Photos not retired (what every page shows)."""
        return self.filter(retired_at__isnull=True)

    def chronological(self) -> PhotoQuerySet:
        """Oldest session first; within a session, in upload order."""
        return self.order_by("session__starts_at", "session_id", "created_at", "pk")


class Photo(models.Model):
    """One clinical photo of a patient, taken at a session from one standard view.

    ``location`` is the session's location (copied at upload, as the session's location does
    not change afterwards): it decides which staff may see the photo. The three renditions are
    private files, reachable only through ``photos:photo_file``, which checks permission and
    location and writes an audit row for every view.
    """

    patient = models.ForeignKey("treatments.Patient", on_delete=models.PROTECT, related_name="photos")
    session = models.ForeignKey("treatments.Session", on_delete=models.PROTECT, related_name="photos")
    location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="+")
    tag = models.CharField(max_length=12, choices=PhotoTag.choices)
    view = models.CharField(max_length=16, choices=PhotoView.choices)
    area = models.CharField(
        max_length=80, blank=True, help_text="The treated area shown, e.g. “left cheek”, “temples”."
    )
    taken_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Who took and uploaded the photo.",
    )
    # The stored renditions. Small uploads may share one file between renditions.
    full_name = models.CharField(max_length=255)
    full_sha256 = models.CharField(max_length=64)
    full_size = models.PositiveIntegerField()
    full_width = models.PositiveIntegerField()
    full_height = models.PositiveIntegerField()
    display_name = models.CharField(max_length=255)
    display_sha256 = models.CharField(max_length=64)
    display_size = models.PositiveIntegerField()
    display_width = models.PositiveIntegerField()
    display_height = models.PositiveIntegerField()
    thumb_name = models.CharField(max_length=255)
    thumb_sha256 = models.CharField(max_length=64)
    thumb_size = models.PositiveIntegerField()
    thumb_width = models.PositiveIntegerField()
    thumb_height = models.PositiveIntegerField()
    source_format = models.CharField(max_length=8, help_text="What the upload really was (by content).")
    source_width = models.PositiveIntegerField()
    source_height = models.PositiveIntegerField()
    marketing_use = models.BooleanField(
        default=False, help_text="May be used for marketing (needs the patient's marketing consent)."
    )
    retired_at = models.DateTimeField(null=True, blank=True)
    retired_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    retire_reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = PhotoQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "pk"]
        permissions = [
            ("flag_marketing", "Can mark a photo for marketing use"),
            ("retire_photo", "Can retire a photo taken in error"),
            ("view_withdrawn_photo", "Can see photos after the patient withdrew photography consent"),
        ]
        indexes = [
            # The gallery and compare pages: one patient's photos, by view, in time order.
            models.Index(fields=["patient", "view", "created_at"], name="photo_patient_view_idx"),
            models.Index(fields=["session", "view"], name="photo_session_view_idx"),
            models.Index(fields=["location", "created_at"], name="photo_location_idx"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(tag__in=PhotoTag.values), name="photo_tag_valid"),
            models.CheckConstraint(condition=Q(view__in=PhotoView.values), name="photo_view_valid"),
            models.CheckConstraint(
                condition=Q(full_size__gt=0, display_size__gt=0, thumb_size__gt=0),
                name="photo_files_not_empty",
            ),
            models.CheckConstraint(
                condition=Q(retired_at__isnull=True) | ~Q(retire_reason=""), name="photo_retire_has_reason"
            ),
        ]

    def __str__(self) -> str:
        return f"Photo {self.pk} ({self.get_view_display()}, {self.get_tag_display().lower()})"

    def rendition(self, name: str) -> tuple[str, int, int]:
        """(storage name, width, height) of the rendition ``name`` ("full", "display", "thumb")."""
        if name not in RENDITIONS:
            raise KeyError(name)
        return getattr(self, f"{name}_name"), getattr(self, f"{name}_width"), getattr(self, f"{name}_height")

    @property
    def label(self) -> str:
        """A description for alt text and lists (no patient name: it may end up in a file name)."""
        day = timezone.localtime(self.session.starts_at) if self.session_id else None
        parts = [self.get_view_display(), self.get_tag_display().lower()]
        if self.area:
            parts.append(self.area)
        if day:
            parts.append(f"{day.day} {day:%b %Y}")
        return ", ".join(parts)

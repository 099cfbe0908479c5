"""Erasure requests (UK GDPR article 17), kept against the clinical record's retention."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from treatments.models.patients import Patient


class ErasureRequest(models.Model):
    """A patient's request to erase their data, and how far it has gone.

    What no duty requires is erased when the request is recorded (``immediate_at``); the
    clinical record is kept until ``retain_until`` and erased by the daily job after it
    (``completed_at``). The row keeps the fact of the request, never the erased data.
    """

    class Channel(models.TextChoices):
        IN_PERSON = "in_person", "In person at the clinic"
        EMAIL = "email", "By email"
        LETTER = "letter", "By letter"
        PHONE = "phone", "By phone (confirmed in writing)"

    class Status(models.TextChoices):
        RETAINED = "retained", "Clinical record kept until its retention ends"
        COMPLETED = "completed", "Erased"

    patient = models.OneToOneField(Patient, on_delete=models.PROTECT, related_name="erasure_request")
    received_on = models.DateField(help_text="When the clinic received the request.")
    channel = models.CharField("how it was made", max_length=12, choices=Channel.choices)
    erase_retired_photos = models.BooleanField(
        "erase photos that are not part of the clinical record",
        default=False,
        help_text="Photos retired as taken in error are erased at once.",
    )
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RETAINED)
    retain_until = models.DateField(
        null=True, blank=True, help_text="The clinical record's retention ends (none: nothing to keep)."
    )
    last_treated_on = models.DateField(null=True, blank=True)
    held_reason = models.CharField(
        max_length=200, blank=True, help_text="Why the last run did not erase (an open recall)."
    )
    completed_at = models.DateTimeField(null=True, blank=True)
    # Counts only (how many photos, files, fields), never the values.
    summary = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["retain_until", "pk"]
        indexes = [models.Index(fields=["status", "retain_until"], name="erasure_due_idx")]

    def __str__(self) -> str:
        return f"Erasure request {self.pk} ({self.get_status_display()})"

    @property
    def pending(self) -> bool:
        return self.status == self.Status.RETAINED

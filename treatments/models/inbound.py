"""Text messages patients send back: the front desk reads what the webhook could not act on."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from clinic.models import Location


class InboundMessage(models.Model):
    class Status(models.TextChoices):
        NEW = "new", "New"
        HANDLED = "handled", "Handled"

    from_number = models.CharField(max_length=32)
    body = models.CharField(max_length=1600)
    patient = models.ForeignKey(
        "treatments.Patient",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="texts",
    )
    # The patient's location; unknown senders have none and show at every location's desk.
    location = models.ForeignKey(Location, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.NEW)
    received_at = models.DateTimeField(default=timezone.now)
    handled_at = models.DateTimeField(null=True, blank=True)
    handled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-received_at", "-pk"]
        indexes = [models.Index(fields=["status", "received_at"], name="inbound_status_idx")]

    def __str__(self) -> str:
        return f"SMS from {self.from_number} at {self.received_at:%Y-%m-%d %H:%M}"

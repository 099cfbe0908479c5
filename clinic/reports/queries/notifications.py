"""The outbox on the managers' dashboard."""

from __future__ import annotations

from django.db.models import Count, Q

from clinic.models import Notification


def notification_counts(locations) -> dict:
    """Failed and awaiting-review outbox rows at these locations (or location-less). One query."""
    return Notification.objects.filter(Q(location__in=locations) | Q(location__isnull=True)).aggregate(
        failed=Count("id", filter=Q(status=Notification.Status.FAILED)),
        held=Count("id", filter=Q(status=Notification.Status.HELD)),
    )

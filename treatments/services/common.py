"""Helpers shared by the services: the actor's locations."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.core.exceptions import PermissionDenied

from clinic.models import Location
from clinic.scoping import location_ids_for

if TYPE_CHECKING:
    from django.contrib.auth.models import User


def require_location(actor: User | None, location: Location) -> None:
    """Staff act only at the locations they work at (services are callable outside views)."""
    if actor is None:
        return  # the system (commands, jobs)
    if not Location.objects.filter(pk=location.pk, id__in=location_ids_for(actor)).exists():
        raise PermissionDenied("You do not work at this location.")

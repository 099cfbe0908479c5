"""One place decides which rows a user may see: their locations.

Models that belong to a location use ``LocationScopedQuerySet`` (or a subclass) and set
``location_lookup`` to the path of their location field. Views narrow every queryset with
``for_user(user)`` and fetch single objects with ``get_for_user_or_404``: an object at
another location is a 404, never a hint that it exists.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

from django.db import models
from django.http import Http404, HttpRequest

if TYPE_CHECKING:
    from django.contrib.auth.models import User

M = TypeVar("M", bound=models.Model)


class AuthenticatedHttpRequest(HttpRequest):
    """What a view receives behind ``LoginRequiredMiddleware``: ``user`` is a signed-in User.

    Only a type: views that are not ``@login_not_required`` annotate ``request`` with it so
    the checker knows ``request.user`` is no ``AnonymousUser``.
    """

    user: User


def location_ids_for(user: User) -> models.QuerySet:
    """A subquery of the location ids the user works at (no extra query when used in a filter)."""
    from clinic.models import Location

    if user.is_superuser:
        return Location.objects.values("id")
    return Location.objects.filter(staff__user=user).values("id")


def locations_for(user) -> models.QuerySet:
    """The active locations the user works at, for location choices on forms and filters."""
    from clinic.models import Location

    return Location.objects.filter(id__in=location_ids_for(user), is_active=True)


class LocationScopedQuerySet(models.QuerySet):
    location_lookup = "location"

    def at(self, locations):
        """Rows of these locations (ids, Location rows or a ``values("id")`` subquery).

        For reads that have already decided the locations (a report's chosen places, a sweep
        over every location); views start from ``for_user``.
        """
        return self.filter(**{f"{self.location_lookup}__in": locations})

    def for_user(self, user):
        if not getattr(user, "is_authenticated", False) or not user.is_active:
            return self.none()
        if user.is_superuser:
            return self
        return self.at(location_ids_for(user))


def get_for_user_or_404(queryset: models.QuerySet[M], user, **lookup) -> M:
    """Fetch one object the user may see, or 404 (outside their locations or missing)."""
    scoped = queryset.for_user(user)  # type: ignore[attr-defined]
    try:
        return scoped.get(**lookup)
    except (scoped.model.DoesNotExist, ValueError):
        raise Http404(f"No {scoped.model._meta.verbose_name} found.") from None

"""Sorting and paging for list pages, shared by every app."""

from __future__ import annotations

from django.core.paginator import Page, Paginator
from django.db.models import QuerySet

PAGE_SIZE = 25


def sort_queryset(request, queryset: QuerySet, allowed: dict[str, str], default: str) -> tuple[QuerySet, str]:
    """Order by ?sort=key or ?sort=-key where key is in ``allowed`` (key → field)."""
    requested = request.GET.get("sort", default)
    key = requested.lstrip("-")
    if key not in allowed:
        requested, key = default, default.lstrip("-")
    field = allowed[key]
    descending = requested.startswith("-")
    order = [f"-{field}" if descending else field, "-pk" if descending else "pk"]
    return queryset.order_by(*order), requested


def paginate(request, queryset, per_page: int = PAGE_SIZE, *, count: int | None = None) -> Page:
    """The requested page (``?page=``). ``count``: the number of rows when the caller has
    already counted them (in an aggregate it ran anyway), to spare the paginator its COUNT."""
    paginator = Paginator(queryset, per_page)
    if count is not None:
        paginator.__dict__["count"] = count  # ``Paginator.count`` is a cached property
    return paginator.get_page(request.GET.get("page"))

"""Reorder levels: managers set a minimum and a reorder quantity per product and location."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from clinic.forms import error_text, parse_id
from clinic.scoping import AuthenticatedHttpRequest, get_for_user_or_404, locations_for
from clinic.tables import paginate, sort_queryset
from products import services
from products.models import Product, ReorderLevel
from products.models.reorder import USE_WINDOW_DAYS
from products.reorder_forms import ReorderLevelEditForm, ReorderLevelForm

PERMISSION = "products.change_reorderlevel"


@permission_required(PERMISSION, raise_exception=True)
@require_http_methods(["GET", "POST"])
def reorder_levels(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Every level at the manager's locations with its stock and suggested order, and a form
    to set one (``?product=<id>`` preselects the product, from the stock overview)."""
    user = request.user
    locations = locations_for(user)
    initial = {}
    product_id = parse_id(request.GET.get("product", ""))
    if product_id is not None:
        initial["product"] = product_id
    if len(locations) == 1:
        initial["location"] = locations[0].pk
    form = ReorderLevelForm(
        request.POST or None,
        products=Product.objects.active().order_by("name"),
        locations=locations,
        initial=initial,
    )
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        try:
            level = services.reorder_level_set(
                product=d["product"],
                location=d["location"],
                minimum=d["minimum"],
                reorder_quantity=d["reorder_quantity"],
                actor=user,
            )
        except ValidationError as exc:
            form.add_error(None, error_text(exc))
        else:
            messages.success(
                request,
                f"{level.product.name} at {level.location.name}: low below {level.minimum} usable vials, "
                f"order at least {level.reorder_quantity}.",
            )
            return redirect("products:reorder_levels")
    levels = ReorderLevel.objects.for_user(user).with_stock().select_related("product", "location")
    levels, sort = sort_queryset(
        request,
        levels,
        {"product": "product__name", "location": "location__name", "usable": "usable_on_hand"},
        "product",
    )
    return render(
        request,
        "products/reorder_levels.html",
        {"form": form, "page": paginate(request, levels), "sort": sort, "window_days": USE_WINDOW_DAYS},
    )


@permission_required(PERMISSION, raise_exception=True)
@require_http_methods(["GET", "POST"])
def reorder_level_edit(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    level = get_for_user_or_404(
        ReorderLevel.objects.with_stock().select_related("product", "location"), request.user, pk=pk
    )
    form = ReorderLevelEditForm(
        request.POST or None, initial={"minimum": level.minimum, "reorder_quantity": level.reorder_quantity}
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.reorder_level_set(
                product=level.product,
                location=level.location,
                minimum=form.cleaned_data["minimum"],
                reorder_quantity=form.cleaned_data["reorder_quantity"],
                actor=request.user,
            )
        except ValidationError as exc:
            form.add_error(None, error_text(exc))
        else:
            messages.success(
                request, f"Reorder level of {level.product.name} at {level.location.name} saved."
            )
            return redirect("products:reorder_levels")
    return render(
        request,
        "products/reorder_level_edit.html",
        {"level": level, "form": form, "window_days": USE_WINDOW_DAYS},
    )


@permission_required(PERMISSION, raise_exception=True)
@require_POST
def reorder_level_delete(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    level = get_for_user_or_404(
        ReorderLevel.objects.select_related("product", "location"), request.user, pk=pk
    )
    try:
        services.reorder_level_delete(level=level, actor=request.user)
    except ValidationError as exc:
        messages.error(request, error_text(exc))
        return redirect("products:reorder_level_edit", pk=level.pk)
    messages.success(request, f"{level.product.name} is no longer watched at {level.location.name}.")
    return redirect("products:reorder_levels")

"""Catalogue and storage-unit editing (managers)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from clinic.forms import error_text
from clinic.scoping import get_for_user_or_404, locations_for
from clinic.tables import paginate, sort_queryset
from products import services
from products.forms import ProductForm, StorageUnitForm
from products.models import Format, Product, StorageUnit


@permission_required("products.view_product", raise_exception=True)
@require_GET
def product_list(request: HttpRequest) -> HttpResponse:
    qs = Product.objects.with_clearance()
    fmt = request.GET.get("format", "")
    if fmt in Format.values:
        qs = qs.filter(format=fmt)
    if not request.GET.get("inactive"):
        qs = qs.filter(is_active=True)
    qs, sort = sort_queryset(
        request,
        qs,
        {"name": "name", "manufacturer": "manufacturer", "format": "format", "source": "source"},
        "name",
    )
    return render(
        request,
        "products/product_list.html",
        {"page": paginate(request, qs), "sort": sort, "formats": Format.choices, "format": fmt},
    )


def _save_product(request: HttpRequest, product: Product | None) -> HttpResponse:
    form = ProductForm(request.POST or None, instance=product)
    if request.method == "POST" and form.is_valid():
        try:
            saved = services.product_save(product=form.instance, actor=request.user)
        except ValidationError as exc:
            form.add_error(None, error_text(exc))
        else:
            messages.success(request, f"{saved} saved.")
            return redirect("products:product_list")
    title = f"Edit {product}" if product else "New product"
    return render(
        request, "products/simple_form.html", {"form": form, "title": title, "back": "products:product_list"}
    )


@permission_required("products.add_product", raise_exception=True)
@require_http_methods(["GET", "POST"])
def product_create(request: HttpRequest) -> HttpResponse:
    return _save_product(request, None)


@permission_required("products.change_product", raise_exception=True)
@require_http_methods(["GET", "POST"])
def product_edit(request: HttpRequest, pk: int) -> HttpResponse:
    return _save_product(request, get_object_or_404(Product, pk=pk))


def _save_unit(request: HttpRequest, unit: StorageUnit | None) -> HttpResponse:
    form = StorageUnitForm(request.POST or None, instance=unit, locations=locations_for(request.user))
    if request.method == "POST" and form.is_valid():
        try:
            saved = services.storage_unit_save(unit=form.instance, actor=request.user)
        except ValidationError as exc:
            form.add_error(None, error_text(exc))
        else:
            messages.success(request, f"{saved} saved.")
            return redirect("products:unit_detail", pk=saved.pk)
    title = f"Edit {unit}" if unit else "New storage unit"
    return render(
        request, "products/simple_form.html", {"form": form, "title": title, "back": "products:unit_list"}
    )


@permission_required("products.add_storageunit", raise_exception=True)
@require_http_methods(["GET", "POST"])
def unit_create(request: HttpRequest) -> HttpResponse:
    return _save_unit(request, None)


@permission_required("products.change_storageunit", raise_exception=True)
@require_http_methods(["GET", "POST"])
def unit_edit(request: HttpRequest, pk: int) -> HttpResponse:
    return _save_unit(request, get_for_user_or_404(StorageUnit.objects.all(), request.user, pk=pk))

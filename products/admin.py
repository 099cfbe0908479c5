from __future__ import annotations

from django.contrib import admin

from clinic.admin import ReadOnlyAdmin
from products.models import (
    Excursion,
    ExcursionAddendum,
    ExcursionLot,
    Lot,
    OpenedVial,
    Product,
    ReadingImport,
    ReorderLevel,
    StockMovement,
    StorageUnit,
    TemperatureReading,
    VialDraw,
)


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "manufacturer",
        "source",
        "format",
        "storage_min_c",
        "storage_max_c",
        "gtin",
        "is_active",
    ]
    list_filter = ["format", "source", "is_active"]
    search_fields = ["name", "manufacturer", "gtin"]


class MovementInline(admin.TabularInline):
    model = StockMovement
    extra = 0
    can_delete = False
    fields = ["created_at", "kind", "quantity", "balance_after", "reason", "note", "actor"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Lot)
class LotAdmin(ReadOnlyAdmin):
    """Read-only: quantities, places and holds change only through the stock services."""

    list_display = [
        "lot_number",
        "product",
        "expiry_date",
        "quantity_on_hand",
        "storage_unit",
        "is_quarantined",
        "is_recalled",
    ]
    list_filter = ["is_quarantined", "is_recalled", "storage_unit__location", "product__format"]
    search_fields = ["lot_number", "product__name"]
    list_select_related = ["product", "storage_unit__location"]
    inlines = [MovementInline]


@admin.register(StockMovement)
class StockMovementAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "lot", "kind", "quantity", "balance_after", "reason", "actor"]
    list_filter = ["kind", "reason"]
    search_fields = ["lot__lot_number", "reference", "note"]
    list_select_related = ["lot__product", "actor"]
    date_hierarchy = "created_at"


@admin.register(OpenedVial)
class OpenedVialAdmin(ReadOnlyAdmin):
    list_display = [
        "lot",
        "method",
        "opened_at",
        "beyond_use_at",
        "volume_ml",
        "volume_drawn_ml",
        "discarded_at",
    ]
    list_select_related = ["lot__product"]


@admin.register(VialDraw)
class VialDrawAdmin(ReadOnlyAdmin):
    list_display = ["vial", "volume_ml", "reference", "drawn_at", "drawn_by"]


@admin.register(StorageUnit)
class StorageUnitAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "location",
        "kind",
        "min_c",
        "max_c",
        "logger_id",
        "calibration_expires_on",
        "is_active",
    ]
    list_filter = ["location", "kind", "is_active"]


@admin.register(TemperatureReading)
class TemperatureReadingAdmin(ReadOnlyAdmin):
    list_display = ["storage_unit", "taken_at", "temperature_c", "min_c", "max_c", "source", "recorded_by"]
    list_filter = ["source", "storage_unit"]
    list_select_related = ["storage_unit__location", "recorded_by"]
    date_hierarchy = "taken_at"
    show_full_result_count = False


@admin.register(ReadingImport)
class ReadingImportAdmin(ReadOnlyAdmin):
    list_display = ["filename", "storage_unit", "rows", "added", "imported_by", "imported_at"]


class ExcursionLotInline(admin.TabularInline):
    model = ExcursionLot
    extra = 0
    can_delete = False
    readonly_fields = ["lot", "quantity_at_start", "decision", "reason"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Excursion)
class ExcursionAdmin(ReadOnlyAdmin):
    list_display = ["pk", "storage_unit", "started_at", "last_out_at", "lowest_c", "highest_c", "closed_at"]
    list_filter = ["storage_unit__location"]
    inlines = [ExcursionLotInline]


@admin.register(ExcursionAddendum)
class ExcursionAddendumAdmin(ReadOnlyAdmin):
    list_display = ["excursion", "author", "created_at"]


@admin.register(ReorderLevel)
class ReorderLevelAdmin(ReadOnlyAdmin):
    """Read-only: levels are set on the Reorder levels page (``reorder_level_set``, audited)."""

    list_display = [
        "product",
        "location",
        "minimum",
        "reorder_quantity",
        "low_since",
        "updated_at",
        "updated_by",
    ]
    list_filter = ["location"]
    search_fields = ["product__name"]
    list_select_related = ["product", "location", "updated_by"]

"""Products: catalogue, lots and their ledger, opened vials, storage units and the cold chain."""

from __future__ import annotations

from products.models.catalogue import Format, Product, Source
from products.models.coldchain import (
    Excursion,
    ExcursionAddendum,
    ExcursionLot,
    ReadingImport,
    StorageUnit,
    TemperatureReading,
)
from products.models.stock import (
    Lot,
    LotStatus,
    MovementKind,
    OpenedVial,
    StockMovement,
    VialDraw,
    WasteReason,
)

__all__ = [
    "Excursion",
    "ExcursionAddendum",
    "ExcursionLot",
    "Format",
    "Lot",
    "LotStatus",
    "MovementKind",
    "OpenedVial",
    "Product",
    "ReadingImport",
    "Source",
    "StockMovement",
    "StorageUnit",
    "TemperatureReading",
    "VialDraw",
    "WasteReason",
]

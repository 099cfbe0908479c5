"""Products: catalogue, lots and their ledger, opened vials, storage units and the cold chain."""

from __future__ import annotations

from products.models.catalogue import Format, Product, Source
from products.models.coldchain import (
    Excursion,
    ExcursionAddendum,
    ExcursionLot,
    ImportChannel,
    ImportStatus,
    LoggerClock,
    LoggerFeedToken,
    ReadingImport,
    StorageUnit,
    TemperatureReading,
)
from products.models.compliance import (
    Classification,
    DocumentType,
    Jurisdiction,
    RegulatoryDocument,
)
from products.models.reorder import ReorderLevel
from products.models.stock import (
    Lot,
    LotStatus,
    MovementKind,
    OpenedVial,
    StockMovement,
    VialDraw,
    WasteReason,
)
from products.models.stocktake import StockTake, StockTakeLine, StockTakeStatus

__all__ = [
    "Classification",
    "DocumentType",
    "Excursion",
    "ExcursionAddendum",
    "ExcursionLot",
    "Format",
    "ImportChannel",
    "ImportStatus",
    "Jurisdiction",
    "LoggerClock",
    "LoggerFeedToken",
    "Lot",
    "LotStatus",
    "MovementKind",
    "OpenedVial",
    "Product",
    "ReadingImport",
    "RegulatoryDocument",
    "ReorderLevel",
    "Source",
    "StockMovement",
    "StockTake",
    "StockTakeLine",
    "StockTakeStatus",
    "StorageUnit",
    "TemperatureReading",
    "VialDraw",
    "WasteReason",
]

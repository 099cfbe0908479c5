"""Writes for the products app: ``<entity>_<action>`` services, atomic and audited."""

from __future__ import annotations

from products.services.catalogue import product_save, storage_unit_save
from products.services.checks import logger_gaps, logger_interval, missed_checks
from products.services.compliance import (
    Certificate,
    document_renew,
    document_upload,
    lot_receive_with_certificate,
    product_approve,
    product_classify,
    product_revoke_approval,
)
from products.services.excursions import (
    excursion_addendum,
    excursion_close,
    excursion_hold_lot,
    excursion_review,
)
from products.services.readings import (
    ImportResult,
    reading_record,
    readings_import_file,
    readings_import_parsed,
)
from products.services.reorder import reorder_level_delete, reorder_level_set
from products.services.stock import (
    lot_quarantine,
    lot_recall,
    lot_receive,
    lot_release,
    stock_adjust,
    stock_transfer,
    stock_use,
    stock_waste,
    vial_discard,
    vial_draw,
    vial_open,
)
from products.services.stocktake import (
    StockTakeChanged,
    stocktake_add_lot,
    stocktake_cancel,
    stocktake_count,
    stocktake_post,
    stocktake_recount,
    stocktake_start,
)

__all__ = [
    "Certificate",
    "ImportResult",
    "StockTakeChanged",
    "document_renew",
    "document_upload",
    "excursion_addendum",
    "excursion_close",
    "excursion_hold_lot",
    "excursion_review",
    "logger_gaps",
    "logger_interval",
    "lot_quarantine",
    "lot_recall",
    "lot_receive",
    "lot_receive_with_certificate",
    "lot_release",
    "missed_checks",
    "product_approve",
    "product_classify",
    "product_revoke_approval",
    "product_save",
    "reading_record",
    "readings_import_file",
    "readings_import_parsed",
    "reorder_level_delete",
    "reorder_level_set",
    "stock_adjust",
    "stock_transfer",
    "stock_use",
    "stock_waste",
    "stocktake_add_lot",
    "stocktake_cancel",
    "stocktake_count",
    "stocktake_post",
    "stocktake_recount",
    "stocktake_start",
    "storage_unit_save",
    "vial_discard",
    "vial_draw",
    "vial_open",
]

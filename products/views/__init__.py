"""Views of the products app: thin (scoped fetch → form → service → redirect)."""

from __future__ import annotations

from products.views.catalogue import product_create, product_edit, product_list, unit_create, unit_edit
from products.views.coldchain import (
    excursion_addendum,
    excursion_detail,
    excursion_list,
    import_detail,
    reading_create,
    readings_import,
    unit_detail,
    unit_list,
)
from products.views.compliance import (
    compliance_dashboard,
    compliance_export,
    document_download,
    document_renew,
    lot_document_upload,
    product_approve,
    product_classify,
    product_compliance,
    product_document_upload,
    product_revoke,
)
from products.views.reorder import reorder_level_delete, reorder_level_edit, reorder_levels
from products.views.stock import (
    gs1_parse,
    lot_action,
    lot_detail,
    lot_list,
    lot_receive,
    stock_overview,
    vial_discard,
    vial_draw,
    vial_open,
)

__all__ = [
    "compliance_dashboard",
    "compliance_export",
    "document_download",
    "document_renew",
    "excursion_addendum",
    "excursion_detail",
    "excursion_list",
    "gs1_parse",
    "import_detail",
    "lot_action",
    "lot_detail",
    "lot_document_upload",
    "lot_list",
    "lot_receive",
    "product_approve",
    "product_classify",
    "product_compliance",
    "product_create",
    "product_document_upload",
    "product_edit",
    "product_list",
    "product_revoke",
    "reading_create",
    "readings_import",
    "reorder_level_delete",
    "reorder_level_edit",
    "reorder_levels",
    "stock_overview",
    "unit_create",
    "unit_detail",
    "unit_edit",
    "unit_list",
    "vial_discard",
    "vial_draw",
    "vial_open",
]

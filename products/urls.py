from __future__ import annotations

from django.urls import path

from products import views
from products.views import feeds, stocktake

app_name = "products"

urlpatterns = [
    path("stock/", views.stock_overview, name="stock_overview"),
    path("stock/reorder/", views.reorder_levels, name="reorder_levels"),
    path("stock/reorder/<int:pk>/", views.reorder_level_edit, name="reorder_level_edit"),
    path("stock/reorder/<int:pk>/delete/", views.reorder_level_delete, name="reorder_level_delete"),
    path("lots/", views.lot_list, name="lot_list"),
    path("lots/receive/", views.lot_receive, name="lot_receive"),
    path("lots/scan/", views.gs1_parse, name="gs1_parse"),
    path("lots/<int:pk>/", views.lot_detail, name="lot_detail"),
    path("lots/<int:pk>/open-vial/", views.vial_open, name="vial_open"),
    path("lots/<int:pk>/<slug:action>/", views.lot_action, name="lot_action"),
    path("stocktakes/", stocktake.stocktake_list, name="stocktake_list"),
    path("stocktakes/new/", stocktake.stocktake_start, name="stocktake_start"),
    path("stocktakes/<int:pk>/", stocktake.stocktake_detail, name="stocktake_detail"),
    path("stocktakes/<int:pk>/count/", stocktake.stocktake_count, name="stocktake_count"),
    path("stocktakes/<int:pk>/scan/", stocktake.stocktake_scan, name="stocktake_scan"),
    path("stocktakes/<int:pk>/review/", stocktake.stocktake_review, name="stocktake_review"),
    path("stocktakes/<int:pk>/cancel/", stocktake.stocktake_cancel, name="stocktake_cancel"),
    path("vials/<int:pk>/", views.vial_draw, name="vial_draw"),
    path("vials/<int:pk>/discard/", views.vial_discard, name="vial_discard"),
    path("catalogue/", views.product_list, name="product_list"),
    path("catalogue/new/", views.product_create, name="product_create"),
    path("catalogue/<int:pk>/", views.product_edit, name="product_edit"),
    path("units/", views.unit_list, name="unit_list"),
    path("units/new/", views.unit_create, name="unit_create"),
    path("units/<int:pk>/", views.unit_detail, name="unit_detail"),
    path("units/<int:pk>/edit/", views.unit_edit, name="unit_edit"),
    path("units/<int:pk>/readings/new/", views.reading_create, name="reading_create"),
    path("units/<int:pk>/import/", views.readings_import, name="readings_import"),
    path("imports/<int:pk>/", views.import_detail, name="import_detail"),
    path("units/<int:pk>/feed/", feeds.feed_tokens, name="feed_tokens"),
    path(
        "units/<int:pk>/feed/<int:token_pk>/revoke/", feeds.feed_token_revoke_view, name="feed_token_revoke"
    ),
    # The networked loggers' endpoint (token in the header, no session): see README.md.
    path("units/<int:pk>/feed/readings", feeds.feed_readings, name="feed_readings"),
    path("excursions/", views.excursion_list, name="excursion_list"),
    path("excursions/<int:pk>/", views.excursion_detail, name="excursion_detail"),
    path("excursions/<int:pk>/addendum/", views.excursion_addendum, name="excursion_addendum"),
    path("compliance/", views.compliance_dashboard, name="compliance_dashboard"),
    path("compliance/export.csv", views.compliance_export, name="compliance_export"),
    path("catalogue/<int:pk>/compliance/", views.product_compliance, name="product_compliance"),
    path("catalogue/<int:pk>/classification/", views.product_classify, name="product_classify"),
    path("catalogue/<int:pk>/approve/", views.product_approve, name="product_approve"),
    path("catalogue/<int:pk>/revoke/", views.product_revoke, name="product_revoke"),
    path("catalogue/<int:pk>/documents/new/", views.product_document_upload, name="product_document_upload"),
    path("lots/<int:pk>/documents/new/", views.lot_document_upload, name="lot_document_upload"),
    path("documents/<int:pk>/renew/", views.document_renew, name="document_renew"),
    path("documents/<int:pk>/file/", views.document_download, name="document_download"),
]

from __future__ import annotations

from django.urls import path

from clinic.replica import reads_from_replica as on_replica
from clinic.reports import recall_views, views

app_name = "reports"

# The period reports read from the replica when DATABASE_REPLICA_URL is set (clinic/replica.py);
# the recall pages never do: a recall must see the last treatment recorded.

urlpatterns = [
    path("", on_replica(views.dashboard), name="dashboard"),
    path("usage/", on_replica(views.usage), name="usage"),
    path("usage/export.csv", on_replica(views.usage_export), name="usage_export"),
    path("waste/", on_replica(views.waste), name="waste"),
    path("waste/export.csv", on_replica(views.waste_export), name="waste_export"),
    path("valuation/", on_replica(views.valuation), name="valuation"),
    path("valuation/export.csv", on_replica(views.valuation_export), name="valuation_export"),
    path("cold-chain/", on_replica(views.coldchain), name="coldchain"),
    path("cold-chain/export.csv", on_replica(views.coldchain_export), name="coldchain_export"),
    path("register/", on_replica(views.register), name="register"),
    path("register/export.csv", on_replica(views.register_export), name="register_export"),
    path("recall/", recall_views.recall_index, name="recall_index"),
    path("recall/export.csv", recall_views.recall_search_export, name="recall_search_export"),
    path("recall/lots/<int:pk>/", recall_views.recall_lot, name="recall_lot"),
    path("recall/lots/<int:pk>/export.csv", recall_views.recall_lot_export, name="recall_lot_export"),
    path("recall/lots/<int:pk>/recall/", recall_views.recall_lot_run, name="recall_lot_run"),
    path("recall/lots/<int:pk>/messages/", recall_views.recall_messages, name="recall_messages"),
    path(
        "recall/lots/<int:pk>/messages/send/", recall_views.recall_messages_send, name="recall_messages_send"
    ),
    path(
        "recall/lots/<int:pk>/messages/<int:message_pk>/edit/",
        recall_views.recall_message_edit,
        name="recall_message_edit",
    ),
    path(
        "recall/lots/<int:pk>/messages/<int:message_pk>/cancel/",
        recall_views.recall_message_cancel,
        name="recall_message_cancel",
    ),
]

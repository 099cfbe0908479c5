from __future__ import annotations

app_name = "products"

urlpatterns: list = []

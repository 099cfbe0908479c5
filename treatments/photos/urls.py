from __future__ import annotations

app_name = "photos"

urlpatterns: list = []

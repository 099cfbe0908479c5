from __future__ import annotations

from django.apps import AppConfig


class ProductsConfig(AppConfig):
    name = "products"
    verbose_name = "Products"

    def ready(self) -> None:
        from clinic.dashboard import Panel, register
        from clinic.roles import MANAGER
        from products.panels import stock_panel

        register(Panel((MANAGER,), "products/panels/stock.html", stock_panel))

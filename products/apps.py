from __future__ import annotations

from django.apps import AppConfig


class ProductsConfig(AppConfig):
    name = "products"
    verbose_name = "Products"

    def ready(self) -> None:
        from clinic.dashboard import Panel, register
        from clinic.roles import MANAGER
        from products.panels import compliance_panel, stock_panel

        register(Panel((MANAGER,), "products/panels/stock.html", stock_panel))
        register(Panel((MANAGER,), "products/panels/compliance.html", compliance_panel))

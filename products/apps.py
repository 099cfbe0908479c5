from __future__ import annotations

from django.apps import AppConfig


class ProductsConfig(AppConfig):
    name = "products"
    verbose_name = "Products"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from clinic.dashboard import Panel, register
        from clinic.roles import MANAGER
        from products.models.certificate_dates import install_after_migrate
        from products.panels import compliance_panel, stock_panel

        # Lots keep their certificate's expiry by triggers; a table rebuild drops them.
        post_migrate.connect(install_after_migrate, sender=self)

        register(Panel((MANAGER,), "products/panels/stock.html", stock_panel))
        register(Panel((MANAGER,), "products/panels/compliance.html", compliance_panel))

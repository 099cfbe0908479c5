from __future__ import annotations

from django.apps import AppConfig


class ClinicConfig(AppConfig):
    name = "clinic"
    verbose_name = "Clinic"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from clinic import checks, roles, signals  # noqa: F401  (system checks, auth event auditing)
        from clinic.dashboard import Panel, register
        from clinic.reports.panels import reports_panel

        # Registered before products' and treatments' panels (clinic is installed first).
        register(Panel((roles.MANAGER,), "clinic/reports/panel.html", reports_panel))

        # Keep the role groups in step with the map in code after every migrate, so a
        # new model's permissions reach the roles without a hand-written migration.
        post_migrate.connect(roles.sync_roles_after_migrate, sender=self)

from __future__ import annotations

from django.apps import AppConfig


class ClinicConfig(AppConfig):
    name = "clinic"
    verbose_name = "Clinic"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from clinic import checks, roles, signals  # noqa: F401  (system checks, auth event auditing)
        from clinic.dashboard import Panel, Section, register, register_section
        from clinic.reports.panels import lot_patients_section, reports_panel

        # Registered before products' and treatments' panels (clinic is installed first).
        register(Panel((roles.MANAGER,), "clinic/reports/panel.html", reports_panel))
        # Who was treated with a lot is clinical: practitioners and managers, not the front desk.
        register_section(
            Section(
                "products.lot",
                "treatments.view_clinical_record",
                "clinic/reports/lot_patients.html",
                lot_patients_section,
            )
        )

        # Keep the role groups in step with the map in code after every migrate, so a
        # new model's permissions reach the roles without a hand-written migration.
        post_migrate.connect(roles.sync_roles_after_migrate, sender=self)

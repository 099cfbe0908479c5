from __future__ import annotations

from django.apps import AppConfig


class TreatmentsConfig(AppConfig):
    name = "treatments"
    verbose_name = "Treatments"

    def ready(self) -> None:
        from clinic.dashboard import Panel, register
        from clinic.roles import FRONT_DESK, PRACTITIONER
        from treatments import panels

        register(Panel((FRONT_DESK,), "treatments/panels/today_desk.html", panels.front_desk_today))
        register(Panel((PRACTITIONER,), "treatments/panels/my_day.html", panels.practitioner_today))

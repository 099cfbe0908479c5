"""System checks of the clinic's own settings (``manage.py check``)."""

from __future__ import annotations

from django.conf import settings
from django.core import checks


@checks.register(checks.Tags.database, deploy=True)
def sqlite_in_production(app_configs, **kwargs) -> list[checks.CheckMessage]:
    """SQLite serves the demo and tests; a clinic's records need PostgreSQL: concurrent writers,
    row locks on stock, backups while running, and the integrity checks the tests run there."""
    engine = settings.DATABASES.get("default", {}).get("ENGINE", "")
    if engine.endswith("sqlite3"):
        return [
            checks.Warning(
                "The database is SQLite.",
                hint="Set DATABASE_URL to a PostgreSQL database (README: Production deployment).",
                id="clinic.W001",
            )
        ]
    return []

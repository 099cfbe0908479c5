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


@checks.register()
def sms_backend_interface(app_configs, **kwargs) -> list[checks.CheckMessage]:
    """The SMS backend must take the idempotency key: without it every text would fail at send
    time (a TypeError per attempt, then "failed"), so refuse to start instead."""
    from django.utils.module_loading import import_string

    from clinic.channels import sms_backend_takes_key

    path = getattr(settings, "SMS_BACKEND", "clinic.channels.LoggingSmsBackend")
    try:
        backend_class = import_string(path)
    except ImportError as exc:
        return [checks.Error(f"SMS_BACKEND {path!r} cannot be imported: {exc}", id="clinic.E001")]
    if not sms_backend_takes_key(backend_class):
        return [
            checks.Error(
                f"SMS_BACKEND {path!r} has no send(*, to, body, idempotency_key).",
                hint="Accept idempotency_key and pass it to the provider's idempotency field, so a "
                "text retried after a worker died is sent once (clinic/channels.py).",
                id="clinic.E002",
            )
        ]
    return []

"""Reports read from a PostgreSQL read replica, when one is configured.

With ``DATABASE_REPLICA_URL`` set, settings add a ``replica`` database and this router. Reads
go to the replica only inside a view wrapped in :func:`reads_from_replica` — the period
reports, which sum months of rows and may lag the primary by a second. Everything else,
every write, and every ``select_for_update`` (Django routes those as writes) stays on the
primary, so a page never shows a stale answer to something the user just did. The recall
pages are deliberately not wrapped: a recall must see the last treatment recorded.
A streamed export reads its rows after the view has returned, so it reads the primary.
"""

from __future__ import annotations

from contextvars import ContextVar
from functools import wraps

from django.conf import settings

REPLICA = "replica"
_on_replica: ContextVar[bool] = ContextVar("clinic_reads_from_replica", default=False)


class ReportsReplicaRouter:
    """Reads inside @reads_from_replica views go to the replica; nothing else is routed."""

    def db_for_read(self, model, **hints):
        return REPLICA if _on_replica.get() else None

    def db_for_write(self, model, **hints):
        return None

    def allow_relation(self, obj1, obj2, **hints):
        return True  # the same data on both

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return db != REPLICA  # the replica follows the primary; it is never migrated


def replica_configured() -> bool:
    return REPLICA in settings.DATABASES


def reads_from_replica(view):
    """Run a read-only view's queries on the replica when one is configured."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not replica_configured():
            return view(request, *args, **kwargs)
        token = _on_replica.set(True)
        try:
            return view(request, *args, **kwargs)
        finally:
            _on_replica.reset(token)

    return wrapped

"""The audit trail service: every service that changes a record calls ``audit_record``.

It runs inside the caller's transaction, so the change and its audit row commit or roll
back together. Celery jobs and commands pass ``actor=None`` and are recorded as the system.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

from clinic.context import client_ip_var, request_id_var
from clinic.models import AuditEvent, Location


def snapshot(instance: models.Model, fields: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """JSON-safe values of the named fields (foreign keys by id) for before/after."""
    data: dict[str, Any] = {}
    for name in fields:
        field = instance._meta.get_field(name)
        value = getattr(instance, field.attname)
        data[name] = value
    return json.loads(json.dumps(data, cls=DjangoJSONEncoder))


def audit_record(
    *,
    actor,
    action: str,
    obj: models.Model | None = None,
    location: Location | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    object_type: str = "",
    object_id: str = "",
    object_repr: str = "",
) -> AuditEvent:
    if obj is not None:
        object_type = obj._meta.label_lower
        object_id = str(obj.pk)
        object_repr = str(obj)[:200]
        if location is None and isinstance(obj, Location):
            location = obj
        elif location is None and hasattr(obj, "location_id"):
            location = obj.location
    user = actor if getattr(actor, "is_authenticated", False) else None
    return AuditEvent.objects.create(
        actor=user,
        actor_name=user.get_username() if user else "system",
        action=action,
        object_type=object_type,
        object_id=object_id,
        object_repr=object_repr,
        location=location,
        before=before,
        after=after,
        request_id=request_id_var.get(),
        ip_address=client_ip_var.get(),
    )

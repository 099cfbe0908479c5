"""The audit trail stays append-only, with one controlled exception: erasure.

When a patient's retention lapses, the erasure job redacts what audit rows say about them
(the object's description and the before/after values) while keeping the fact of each
event. The trigger allows exactly that: an UPDATE inside a transaction that has set
``clinic.audit_redaction`` to ``on`` (``clinic.audit.audit_redact`` does, with SET LOCAL),
changing nothing but ``object_repr``, ``before`` and ``after``. DELETE stays refused.
"""

from __future__ import annotations

from django.db import migrations

TRIGGER_SQL = """
CREATE OR REPLACE FUNCTION clinic_auditevent_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE'
       AND coalesce(current_setting('clinic.audit_redaction', true), '') = 'on'
       AND NEW.id = OLD.id AND NEW.created_at = OLD.created_at
       AND NEW.action = OLD.action AND NEW.actor_name = OLD.actor_name
       AND NEW.actor_id IS NOT DISTINCT FROM OLD.actor_id
       AND NEW.object_type = OLD.object_type AND NEW.object_id = OLD.object_id
       AND NEW.location_id IS NOT DISTINCT FROM OLD.location_id
       AND NEW.request_id = OLD.request_id
       AND NEW.ip_address IS NOT DISTINCT FROM OLD.ip_address THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION USING MESSAGE = 'clinic_auditevent is append-only: ' || TG_OP || ' is not allowed';
END;
$$ LANGUAGE plpgsql;
"""

PREVIOUS_SQL = """
CREATE OR REPLACE FUNCTION clinic_auditevent_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION USING MESSAGE = 'clinic_auditevent is append-only: ' || TG_OP || ' is not allowed';
END;
$$ LANGUAGE plpgsql;
"""


def install(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(TRIGGER_SQL)


def restore(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PREVIOUS_SQL)


class Migration(migrations.Migration):
    dependencies = [("clinic", "0005_reports_permission_notification_held")]

    operations = [migrations.RunPython(install, restore)]

"""Create the role groups from clinic.roles, and make the audit table append-only on PostgreSQL."""

from __future__ import annotations

from django.db import migrations


def create_roles(apps, schema_editor) -> None:
    from django.apps import apps as global_apps
    from django.contrib.auth.management import create_permissions

    from clinic.roles import sync_roles

    # Permissions are normally created after migrate; make them exist now.
    for config in global_apps.get_app_configs():
        create_permissions(config, apps=apps, verbosity=0)
    sync_roles(apps)


TRIGGER_SQL = """
CREATE OR REPLACE FUNCTION clinic_auditevent_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION USING MESSAGE = 'clinic_auditevent is append-only: ' || TG_OP || ' is not allowed';
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS clinic_auditevent_append_only ON clinic_auditevent;
CREATE TRIGGER clinic_auditevent_append_only
    BEFORE UPDATE OR DELETE ON clinic_auditevent
    FOR EACH ROW EXECUTE FUNCTION clinic_auditevent_append_only();
"""

DROP_SQL = """
DROP TRIGGER IF EXISTS clinic_auditevent_append_only ON clinic_auditevent;
DROP FUNCTION IF EXISTS clinic_auditevent_append_only();
"""


def install_trigger(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(TRIGGER_SQL)


def remove_trigger(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP_SQL)


class Migration(migrations.Migration):
    dependencies = [
        ("clinic", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.RunPython(create_roles, migrations.RunPython.noop),
        migrations.RunPython(install_trigger, remove_trigger),
    ]

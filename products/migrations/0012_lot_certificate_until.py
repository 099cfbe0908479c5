"""Issue 19: every lot row keeps the latest expiry of its manufacturer's lot's certificates of
analysis, kept by triggers (``products.models.certificate_dates``), so counts over tens of
thousands of lots compare a date on the row instead of looking up every certificate."""

from __future__ import annotations

from django.db import migrations, models


def install(apps, schema_editor) -> None:
    from products.models import certificate_dates

    certificate_dates.install(schema_editor.connection, replace=True)


def remove(apps, schema_editor) -> None:
    from products.models import certificate_dates

    certificate_dates.remove(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [
        ("products", "0011_stocktake"),
    ]

    operations = [
        migrations.AddField(
            model_name="lot",
            name="certificate_until",
            field=models.DateField(
                editable=False,
                help_text="Latest expiry among the current certificates of analysis of this manufacturer's "
                "lot (9999-12-31: one without expiry; empty: none). Kept by the database.",
                null=True,
            ),
        ),
        migrations.RunPython(install, remove),
    ]

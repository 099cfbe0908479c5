"""Every existing ledger row gets the unit it happened in, read from the lot's transfers (a lot
that never moved: its unit throughout). Counts and units of lots are not touched."""

from django.db import migrations, models


def fill_movement_units(apps, schema_editor):
    Lot = apps.get_model("products", "Lot")
    StockMovement = apps.get_model("products", "StockMovement")
    moved = set(StockMovement.objects.filter(kind="transfer").values_list("lot_id", flat=True).distinct())
    # Lots that never moved, in one statement: their unit throughout.
    StockMovement.objects.filter(storage_unit__isnull=True).exclude(lot_id__in=moved).update(
        storage_unit_id=models.Subquery(
            Lot.objects.filter(pk=models.OuterRef("lot_id")).values("storage_unit_id")
        )
    )
    # Lots that moved: walk each one's ledger in order.
    for lot in Lot.objects.filter(pk__in=moved).only("pk", "storage_unit_id").iterator():
        rows = list(StockMovement.objects.filter(lot_id=lot.pk).order_by("created_at", "pk"))
        transfers = [m for m in rows if m.kind == "transfer"]
        unit = transfers[0].from_unit_id if transfers and transfers[0].from_unit_id else lot.storage_unit_id
        for row in rows:
            if row.kind == "transfer" and row.to_unit_id:
                unit = row.to_unit_id
            row.storage_unit_id = unit
        StockMovement.objects.bulk_update(rows, ["storage_unit"], batch_size=500)


class Migration(migrations.Migration):
    dependencies = [("products", "0008_stock_per_place")]

    operations = [migrations.RunPython(fill_movement_units, migrations.RunPython.noop, elidable=False)]

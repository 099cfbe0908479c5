"""Stock per place (issue 19): a lot's stock may sit in several storage units, one row each.

Existing lots keep their row, unit and count exactly; 0009 fills in each existing ledger
row's unit (a separate migration: PostgreSQL refuses to alter a table with pending FK checks).
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('products', '0007_logger_files'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name='lot',
            name='lot_number_unique_per_product',
        ),
        migrations.RemoveConstraint(
            model_name='stockmovement',
            name='movement_quantity_sign_matches_kind',
        ),
        migrations.AddField(
            model_name='lot',
            name='origin',
            field=models.ForeignKey(blank=True, help_text='The row this lot was first received as, when its stock is split between places.', null=True, on_delete=django.db.models.deletion.PROTECT, related_name='branches', to='products.lot'),
        ),
        migrations.AddField(
            model_name='stockmovement',
            name='storage_unit',
            field=models.ForeignKey(null=True, on_delete=django.db.models.deletion.PROTECT, related_name='movements', to='products.storageunit'),
        ),
        migrations.AlterField(
            model_name='stockmovement',
            name='kind',
            field=models.CharField(choices=[('received', 'Received'), ('used', 'Used in a treatment'), ('opened', 'Vial opened'), ('wasted', 'Wasted'), ('adjusted', 'Count adjustment'), ('transfer', 'Transfer'), ('transfer_out', 'Sent to another unit'), ('transfer_in', 'Received from another unit'), ('quarantine', 'Quarantined'), ('release', 'Released'), ('recall', 'Recalled')], max_length=20),
        ),
        migrations.AddIndex(
            model_name='stockmovement',
            index=models.Index(fields=['storage_unit', 'created_at'], name='products_st_storage_eb37eb_idx'),
        ),
        migrations.AddConstraint(
            model_name='lot',
            constraint=models.UniqueConstraint(fields=('product', 'lot_number', 'storage_unit'), name='lot_number_unique_per_product_unit'),
        ),
        migrations.AddConstraint(
            model_name='stockmovement',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('kind__in', ['received', 'transfer_in']), ('quantity__gt', 0)), models.Q(('kind__in', ['used', 'opened', 'wasted', 'transfer_out']), ('quantity__lt', 0)), models.Q(('kind', 'adjusted'), models.Q(('quantity', 0), _negated=True)), models.Q(('kind__in', ['transfer', 'quarantine', 'release', 'recall']), ('quantity', 0)), _connector='OR'), name='movement_quantity_sign_matches_kind'),
        ),
    ]

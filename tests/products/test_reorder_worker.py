"""The low-stock task on a real Celery worker: the digest is written and sent."""

from __future__ import annotations

import pytest
from django.core import mail

from clinic.models import Notification
from clinic.notifications import NotificationKind
from products.services import reorder_level_set
from tests.conftest import wait_for
from tests.products.factories import make_lot

pytestmark = [pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]


def test_the_task_sends_the_low_stock_digest(worker, unit, product, manager):
    from products.tasks import low_stock_alerts

    make_lot(unit=unit, product=product, quantity=1, actor=manager)
    reorder_level_set(product=product, location=unit.location, minimum=3, reorder_quantity=6, actor=manager)
    low_stock_alerts.delay()
    digest = Notification.objects.filter(kind=NotificationKind.LOW_STOCK_DIGEST, channel="email")
    assert wait_for(lambda: digest.filter(status="sent").exists())
    assert any("below the minimum" in m.subject for m in mail.outbox)

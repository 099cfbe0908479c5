"""Every field a manager edits on a product or unit is in the audit row's before/after."""

from __future__ import annotations

import pytest

from clinic.models import AuditEvent
from products.forms import ProductForm, StorageUnitForm
from products.services.catalogue import PRODUCT_FIELDS, UNIT_FIELDS, product_save

pytestmark = pytest.mark.django_db


def test_the_forms_edit_exactly_the_audited_fields():
    assert set(ProductForm.base_fields) == set(PRODUCT_FIELDS)
    assert set(StorageUnitForm.base_fields) == set(UNIT_FIELDS)


def test_a_route_change_is_audited_with_before_and_after(product, manager):
    product.route_scalp = not product.route_scalp
    product_save(product=product, actor=manager)
    event = AuditEvent.objects.filter(action="product.update", object_id=str(product.pk)).latest("id")
    assert event.before["route_scalp"] != event.after["route_scalp"]

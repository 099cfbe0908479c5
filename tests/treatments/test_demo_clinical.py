"""Clinical demo data: consent templates, signed consents, screening and signed treatment
histories across routes and products, stock drawn through the ledger; idempotent."""

from __future__ import annotations

import io

import pytest
from django.db.models import Sum
from django.utils import timezone

from clinic import demo as clinic_demo
from products import demo as products_demo
from products.models import Lot
from treatments import demo
from treatments.consent import has_consent
from treatments.models import (
    EVIDENCE_DISCLOSURE,
    ConsentTemplate,
    PatientConsent,
    ProductLine,
    Scope,
    Screening,
    TreatmentRecord,
    TreatmentType,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def seeded(time_machine):
    # The demo's history is laid out around "today": both runs must see the same day (a
    # session started at 23:59 on 31 December otherwise seeds again in the new year).
    time_machine.move_to(timezone.now(), tick=False)
    locations, users = clinic_demo.seed(stdout=io.StringIO())
    products_demo.seed(locations=locations, users=users, stdout=io.StringIO())
    demo.seed(locations=locations, users=users, stdout=io.StringIO())
    return locations, users


def _counts():
    return (
        ConsentTemplate.objects.count(),
        PatientConsent.objects.count(),
        Screening.objects.count(),
        TreatmentRecord.objects.count(),
        ProductLine.objects.count(),
        Lot.objects.aggregate(n=Sum("quantity_on_hand"))["n"],
    )


def test_the_demo_has_consents_screening_and_signed_histories(seeded):
    assert {t.treatment_type for t in ConsentTemplate.objects.all()} == set(TreatmentType.values)
    assert ConsentTemplate.objects.filter(treatment_type=TreatmentType.SKIN_QUALITY).count() == 2
    assert all(t.evidence_disclosure == EVIDENCE_DISCLOSURE for t in ConsentTemplate.objects.all())
    consents = list(PatientConsent.objects.select_related("patient"))
    assert len(consents) >= 5
    assert any(has_consent(c.patient, Scope.MARKETING) for c in consents)
    assert any(c.withdrawals.exists() for c in consents)
    assert Screening.objects.filter(overridden_at__isnull=False).exists()
    records = TreatmentRecord.objects.all()
    assert records.count() >= 5
    assert not records.filter(signed_at__isnull=True).exists()
    assert all(r.signed_at <= timezone.now() for r in records)
    lines = ProductLine.objects.select_related("lot__product")
    assert len({line.route for line in lines}) >= 2
    assert len({line.lot.product_id for line in lines}) >= 2
    assert TreatmentRecord.objects.filter(addenda__isnull=False).exists()


def test_stock_follows_the_ledger(seeded):
    for lot in Lot.objects.all():
        assert lot.quantity_on_hand == lot.movements.aggregate(n=Sum("quantity"))["n"], lot
    used = ProductLine.objects.filter(source="sealed").aggregate(n=Sum("vials"))["n"]
    assert used and used > 0


def test_running_it_again_changes_nothing(seeded):
    locations, users = seeded
    before = _counts()
    demo.seed(locations=locations, users=users, stdout=io.StringIO())
    assert _counts() == before


def test_the_ledger_carries_the_dates_of_what_it_records(seeded):
    """Issue 19, item 6: the usage chart and the recall look-up tell one story."""
    from products.models import MovementKind, StockMovement

    lines = ProductLine.objects.exclude(stock_movement=None).select_related(
        "stock_movement", "record__session"
    )
    assert lines
    for line in lines:
        used_on = timezone.localdate(line.stock_movement.created_at)
        assert used_on == timezone.localdate(line.record.session.starts_at), line
    # No vial leaves the ledger as "used" without the treatment record it served.
    recorded = set(lines.values_list("stock_movement_id", flat=True))
    used = set(StockMovement.objects.filter(kind=MovementKind.USED).values_list("pk", flat=True))
    assert used == recorded
    # Deliveries are dated by their receipt, before anything was drawn from them, and every
    # ledger's balances add up in date order.
    for lot in Lot.objects.prefetch_related("movements"):
        moves = sorted(lot.movements.all(), key=lambda m: (m.created_at, m.pk))
        if not lot.origin_id:
            assert moves[0].kind == MovementKind.RECEIVED, lot
            assert timezone.localdate(moves[0].created_at) == lot.received_on, lot
        balance = 0
        for move in moves:
            balance += move.quantity
            assert move.balance_after == balance >= 0, (lot, move)

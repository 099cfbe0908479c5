"""Twenty people reach for the last five vials at once: exactly five get one."""

from __future__ import annotations

import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, connections
from django.db.models import Sum

from products.models import Lot, StockMovement
from products.services import stock_use
from tests.products.factories import make_lot

pytestmark = pytest.mark.postgres


@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks are only meaningful on PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_twenty_threads_drawing_from_a_lot_of_five(unit, manager, practitioner):
    lot = make_lot(unit=unit, quantity=5, actor=manager)
    start = threading.Barrier(20)
    successes: list[int] = []
    errors: list[str] = []
    unexpected: list[BaseException] = []

    def draw() -> None:
        try:
            start.wait()
            movement = stock_use(lot=Lot(pk=lot.pk), quantity=1, actor=practitioner, reference="race")
            successes.append(movement.pk)
        except ValidationError as exc:
            errors.append(" ".join(exc.messages))
        except BaseException as exc:  # anything else is a bug the test must show
            unexpected.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=draw) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert unexpected == []
    assert len(successes) == 5
    assert len(errors) == 15
    assert all("no vials left" in e or "only 0 vial" in e for e in errors), errors
    lot.refresh_from_db()
    assert lot.quantity_on_hand == 0
    assert StockMovement.objects.filter(lot=lot, kind="used").count() == 5
    assert StockMovement.objects.filter(lot=lot).aggregate(s=Sum("quantity"))["s"] == 0


@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks are only meaningful on PostgreSQL")
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("confirmed", [True, False], ids=["hold-confirmed", "not-confirmed"])
def test_a_lot_received_while_an_excursion_opens_is_held_too(unit, manager, confirmed):
    """Receiving and the reading that opens an excursion race; the new lot never escapes.

    Receiving into a unit out of range needs the receiver's confirmation that the lot will be
    held. Confirmed, the lot is received and held whichever commits first; not confirmed, it
    is refused if the excursion won the race and held if the receipt did, never free.
    """
    from decimal import Decimal

    from django.core.exceptions import ValidationError
    from django.utils import timezone

    from products.models import Excursion
    from products.services import reading_record

    for attempt in range(5):
        # Back in range, then the previous attempt's excursion closed: the next warm reading
        # is a new event (one excursion per event).
        reading_record(unit=unit, actor=manager, temperature_c=Decimal("5"), taken_at=timezone.now())
        Excursion.objects.filter(storage_unit=unit).update(closed_at=timezone.now())
        start = threading.Barrier(2)
        problems: list[BaseException] = []
        received: list[Lot] = []

        def warm(start=start, problems=problems) -> None:
            try:
                start.wait()
                reading_record(unit=unit, actor=manager, temperature_c=Decimal("12"), taken_at=timezone.now())
            except BaseException as exc:
                problems.append(exc)
            finally:
                connections.close_all()

        def receive(start=start, problems=problems, received=received) -> None:
            try:
                start.wait()
                received.append(make_lot(unit=unit, quantity=2, actor=manager, hold_confirmed=confirmed))
            except BaseException as exc:
                problems.append(exc)
            finally:
                connections.close_all()

        threads = [threading.Thread(target=warm), threading.Thread(target=receive)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        refused = [p for p in problems if isinstance(p, ValidationError)]
        assert [p for p in problems if p not in refused] == []
        if refused:
            assert not confirmed and len(refused) == 1 and not received, attempt
            assert "held" in " ".join(refused[0].messages)
            free = Lot.objects.filter(storage_unit=unit, quantity_on_hand=2, is_quarantined=False)
            assert not free.exists(), attempt
            continue
        lot = Lot.objects.get(pk=received[0].pk)
        excursion = Excursion.objects.get(storage_unit=unit, closed_at__isnull=True)
        assert lot.is_quarantined, attempt
        assert excursion.lots.filter(lot=lot).exists(), attempt


@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks are only meaningful on PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_transfers_both_ways_at_once_neither_deadlock_nor_lose_a_vial(unit, other_unit, manager):
    """Eight people split the same lot between two sites at once, half each way: the rows are
    locked in one order, so nobody waits for ever and every vial is still counted once."""
    from products.services import stock_transfer
    from tests.factories import staff

    boss = staff("manager", unit.location, other_unit.location, username="race_boss")
    home = make_lot(unit=unit, quantity=20, actor=boss, lot_number="RACE-1")
    stock_transfer(lot=home, to_unit=other_unit, quantity=10, actor=boss)
    away = Lot.objects.get(lot_number="RACE-1", storage_unit=other_unit)
    start = threading.Barrier(8)
    unexpected: list[BaseException] = []

    def move(source: int, target) -> None:
        try:
            start.wait()
            stock_transfer(lot=Lot.objects.get(pk=source), to_unit=target, quantity=1, actor=boss)
        except ValidationError:
            pass
        except BaseException as exc:
            unexpected.append(exc)
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=move, args=(home.pk, other_unit) if i % 2 else (away.pk, unit))
        for i in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert unexpected == [], unexpected
    rows = Lot.objects.filter(lot_number="RACE-1")
    assert rows.aggregate(n=Sum("quantity_on_hand"))["n"] == 20
    for row in rows:
        assert StockMovement.objects.filter(lot=row).aggregate(s=Sum("quantity"))["s"] == row.quantity_on_hand

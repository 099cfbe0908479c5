"""Two practitioners chart the last vials of a lot at the same moment: one record is saved,
the other is refused whole, and the ledger never goes negative (PostgreSQL row locks)."""

from __future__ import annotations

import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from products.models import Lot, StockMovement
from tests.treatments.factories import PatientFactory, chart, charting_lot, line_input, ready_session
from treatments.models import ProductLine, TreatmentRecord

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL"),
    pytest.mark.django_db(transaction=True),
]


@pytest.mark.parametrize("attempt", range(3))
def test_two_practitioners_charting_the_last_vials_cannot_both_succeed(
    attempt, location, practitioner, nurse
):
    lot = charting_lot(location, quantity=3)
    spare = charting_lot(location, quantity=10)
    sessions = [(ready_session(PatientFactory(location=location), who), who) for who in (practitioner, nurse)]
    barrier = threading.Barrier(2)
    saved, refused = [], []
    guard = threading.Lock()

    def run(session, who):
        from django.db import connection as thread_connection

        try:
            barrier.wait(timeout=10)
            # Each takes a spare vial first, then two of the last three: both cannot have them.
            result = chart(session, who, line_input(spare, vials=1), line_input(lot, vials=2))
            with guard:
                saved.append(result.record.pk)
        except ValidationError as exc:
            with guard:
                refused.append(exc)
        finally:
            thread_connection.close()

    threads = [threading.Thread(target=run, args=pair) for pair in sessions]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(saved) == 1 and len(refused) == 1
    assert "Line 2" in refused[0].messages[0]
    assert Lot.objects.get(pk=lot.pk).quantity_on_hand == 1
    # The refused chart took nothing, not even its first line's spare vial.
    assert Lot.objects.get(pk=spare.pk).quantity_on_hand == 9
    assert TreatmentRecord.objects.count() == 1 and ProductLine.objects.count() == 2
    assert StockMovement.objects.filter(kind="used").count() == 2

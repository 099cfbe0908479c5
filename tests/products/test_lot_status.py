"""A lot's status is one rule, computed the same in Python and in SQL."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.utils import timezone

from products.models import Lot, LotStatus
from products.services import lot_quarantine, lot_recall, stock_waste
from tests.products.factories import make_lot

pytestmark = pytest.mark.django_db


@pytest.fixture
def lots(unit, manager, settings):
    settings.EXPIRING_SOON_DAYS = 30
    today = timezone.localdate()
    made = {
        LotStatus.AVAILABLE: make_lot(unit=unit, expiry=today + dt.timedelta(days=90), actor=manager),
        LotStatus.EXPIRING_SOON: make_lot(unit=unit, expiry=today + dt.timedelta(days=30), actor=manager),
        LotStatus.EXPIRED: make_lot(unit=unit, expiry=today + dt.timedelta(days=5), actor=manager),
        LotStatus.QUARANTINED: make_lot(unit=unit, actor=manager),
        LotStatus.RECALLED: make_lot(unit=unit, actor=manager),
        LotStatus.DEPLETED: make_lot(unit=unit, quantity=2, actor=manager),
    }
    Lot.objects.filter(pk=made[LotStatus.EXPIRED].pk).update(expiry_date=today - dt.timedelta(days=1))
    lot_quarantine(lot=made[LotStatus.QUARANTINED], actor=manager, reason="check")
    lot_recall(lot=made[LotStatus.RECALLED], actor=manager, reason="recall")
    stock_waste(lot=made[LotStatus.DEPLETED], quantity=2, reason="broken", actor=manager)
    return {status: Lot.objects.get(pk=lot.pk) for status, lot in made.items()}


def test_python_and_sql_agree_on_every_status(lots):
    annotated = dict(Lot.objects.with_status().values_list("pk", "status_code"))
    for status, lot in lots.items():
        assert lot.status == status
        assert annotated[lot.pk] == status
        assert list(Lot.objects.in_status(status)) == [lot]


def test_usable_hides_unusable_lots_and_fefo_orders_by_expiry(lots):
    usable = list(Lot.objects.usable().fefo())
    assert usable == [lots[LotStatus.EXPIRING_SOON], lots[LotStatus.AVAILABLE]]


def test_the_expiring_window_follows_the_setting(lots, settings):
    settings.EXPIRING_SOON_DAYS = 100
    assert Lot.objects.get(pk=lots[LotStatus.AVAILABLE].pk).status == LotStatus.EXPIRING_SOON


def test_for_user_scopes_through_the_storage_unit(lot, other_lot, manager, other_manager):
    assert list(Lot.objects.for_user(manager)) == [lot]
    assert list(Lot.objects.for_user(other_manager)) == [other_lot]


class TestUnclearedLotBadge:
    """A lot not cleared for use never wears an "Available" (or "Expiring soon") badge."""

    @pytest.fixture
    def uncleared(self, unit, manager):
        # No certificate of analysis: not cleared, though in stock, in date and not held.
        return make_lot(unit=unit, lot_number="KV-123", coa=False, actor=manager)

    @staticmethod
    def _badges(html: str) -> list[str]:
        return re.findall(r'<span class="badge text-bg-(\w+)">([^<]+)</span>', html)

    def test_the_lot_page_says_not_cleared(self, client_for, manager, uncleared):
        page = client_for(manager).get(f"/products/lots/{uncleared.pk}/").text
        assert "Not cleared for use:" in page
        assert ("danger", "Not cleared") in self._badges(page)
        assert ("success", "Available") not in self._badges(page)

    def test_a_cleared_lot_page_still_says_available(self, client_for, manager, lot):
        page = client_for(manager).get(f"/products/lots/{lot.pk}/").text
        assert ("success", "Available") in self._badges(page)
        assert "Not cleared" not in page

    def test_lists_say_not_cleared_for_the_uncleared_lot_only(
        self, client_for, manager, unit, lot, uncleared, settings
    ):
        settings.EXPIRING_SOON_DAYS = 30
        soon = make_lot(
            unit=unit, lot_number="SOON-1", coa=False, expiry=timezone.localdate() + dt.timedelta(days=10)
        )
        c = client_for(manager)
        rows = {
            number: self._badges(row)
            for number, row in re.findall(
                r'<tr>\s*<td><a href="/products/lots/\d+/">([^<]+)</a></td>(.*?)</tr>',
                c.get("/products/lots/").text,
                re.S,
            )
        }
        assert rows["KV-123"] == [("danger", "Not cleared")]
        assert rows["SOON-1"] == [("danger", "Not cleared")]
        assert rows["A100"] == [("success", "Available")]
        unit_page = c.get(f"/products/units/{unit.pk}/").text
        assert re.search(
            r"KV-123</a> · 10 <span class=\"badge text-bg-danger\">Not cleared</span>", unit_page
        )
        assert re.search(r"A100</a> · 10 <span class=\"badge text-bg-success\">Available</span>", unit_page)
        assert soon.status == LotStatus.EXPIRING_SOON

    def test_a_held_lot_keeps_its_status_and_is_marked_not_cleared(self, client_for, manager, uncleared):
        lot_quarantine(lot=uncleared, actor=manager, reason="check")
        page = client_for(manager).get("/products/lots/").text
        assert (
            '<span class="badge text-bg-danger">Quarantined</span> '
            '<span class="badge text-bg-danger">Not cleared</span>' in page
        )

    def test_the_dashboard_labels_an_uncleared_expiring_lot(
        self, client_for, manager, lot, uncleared, settings
    ):
        settings.EXPIRING_SOON_DAYS = 400
        dashboard = client_for(manager).get("/").text
        assert re.search(
            r"KV-123</a> · [^<]+<span class=\"badge text-bg-danger\">Not cleared</span>", dashboard
        )
        assert re.search(
            r"A100</a> · [^<]+<span class=\"badge text-bg-warning\">Expiring soon</span>", dashboard
        )

    def test_the_excursion_page_marks_uncleared_held_lots(self, client_for, manager, unit, lot, uncleared):
        from decimal import Decimal

        from products.models import Excursion
        from products.services import reading_record

        reading_record(unit=unit, actor=manager, temperature_c=Decimal("10"))
        page = client_for(manager).get(f"/products/excursions/{Excursion.objects.get().pk}/").text
        rows = dict(
            re.findall(r'<tr><td><a href="/products/lots/\d+/">([^<]+)</a></td>(.*?)</tr>', page, re.S)
        )
        assert "Not cleared" in rows["KV-123"] and "Quarantined" in rows["KV-123"]
        assert "Not cleared" not in rows["A100"]


def test_the_stock_panel_lists_the_first_five_to_expire_with_their_clearance(
    client_for, manager, unit, settings
):
    """The panel chooses its five lots before labelling them (issue 19): the five available lots
    expiring first, in FEFO order, each marked cleared or not, whatever more there are."""
    settings.EXPIRING_SOON_DAYS = 30
    today = timezone.localdate()
    for days in (20, 3, 9, 14, 1, 4, 25):  # the even ones hold their certificate of analysis
        make_lot(
            unit=unit, lot_number=f"E{days:02d}", expiry=today + dt.timedelta(days=days), coa=days % 2 == 0
        )
    held = make_lot(unit=unit, lot_number="HELD", expiry=today, actor=manager)
    lot_quarantine(lot=held, actor=manager, reason="check")
    make_lot(unit=unit, lot_number="LATER", expiry=today + dt.timedelta(days=90))
    panel = next(
        p for p in client_for(manager).get("/").context["panels"] if p["template"].endswith("stock.html")
    )
    assert [(lot.lot_number, lot.is_cleared) for lot in panel["expiring"]] == [
        ("E01", False),
        ("E03", False),
        ("E04", True),
        ("E09", False),
        ("E14", True),
    ]

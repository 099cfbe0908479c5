"""Stock-take pages: counting, reviewing, posting; errors explained; fixed query counts.

Who may use each URL (403, 404 at another location, 405) is in test_access's table.
"""

from __future__ import annotations

import pytest

from clinic.models import AuditEvent
from products.models import MovementKind, StockMovement, StockTake, StockTakeStatus
from products.services import stock_use, stocktake_count, stocktake_post, stocktake_start
from tests.products.factories import StorageUnitFactory, make_lot

pytestmark = pytest.mark.django_db


@pytest.fixture
def lots(unit, manager):
    return [
        make_lot(unit=unit, quantity=10, lot_number="A1", actor=manager),
        make_lot(unit=unit, quantity=5, lot_number="B1", actor=manager),
    ]


@pytest.fixture
def stock_take(lots, unit, manager):
    return stocktake_start(actor=manager, location=unit.location, storage_unit=unit)


def line_ids(stock_take) -> dict[str, int]:
    return {line.lot.lot_number: line.pk for line in stock_take.lines.select_related("lot")}


class TestStart:
    def test_a_manager_starts_a_unit_count_and_lands_on_the_count_page(self, client_for, manager, unit, lots):
        response = client_for(manager).post("/products/stocktakes/new/", {"scope": f"unit-{unit.pk}"})
        stock_take = StockTake.objects.get()
        assert response["Location"] == f"/products/stocktakes/{stock_take.pk}/count/"
        assert stock_take.storage_unit == unit and stock_take.lines.count() == 2

    def test_the_choices_are_the_users_own_units_and_locations(self, client_for, manager, unit, other_unit):
        body = client_for(manager).get(f"/products/stocktakes/new/?unit={unit.pk}").text
        assert "Main fridge" in body and f"Every unit at {unit.location.name}" in body
        assert "Manchester fridge" not in body
        assert f'value="unit-{unit.pk}"' in body and "checked" in body

    def test_another_locations_unit_is_not_a_choice(self, client_for, manager, other_unit, other_lot):
        response = client_for(manager).post("/products/stocktakes/new/", {"scope": f"unit-{other_unit.pk}"})
        assert response.status_code == 200 and not StockTake.objects.exists()
        assert "Select a valid choice" in response.text

    def test_an_empty_unit_is_explained(self, client_for, manager, unit):
        response = client_for(manager).post("/products/stocktakes/new/", {"scope": f"unit-{unit.pk}"})
        assert "nothing to count" in response.text and not StockTake.objects.exists()


class TestCount:
    def test_the_count_page_is_blind_and_tablet_friendly(self, client_for, manager, stock_take):
        body = client_for(manager).get(f"/products/stocktakes/{stock_take.pk}/count/").text
        assert body.count('inputmode="numeric"') == 2
        assert "Lot A1" in body and "Lot B1" in body and "Main fridge" in body
        assert ">10<" not in body and 'value="10"' not in body  # the quantity on record is not shown
        assert 'id="stocktake-scan"' in body

    def test_saving_part_of_the_count_keeps_it(self, client_for, manager, stock_take):
        ids = line_ids(stock_take)
        c = client_for(manager)
        response = c.post(f"/products/stocktakes/{stock_take.pk}/count/", {f"line-{ids['A1']}": "9"})
        assert response["Location"] == f"/products/stocktakes/{stock_take.pk}/count/"
        body = c.get(response["Location"]).text
        assert "Counts saved (1 changed)" in body and 'value="9"' in body and "1 of 2 counted" in body

    def test_a_bad_count_is_explained_next_to_its_lot_and_nothing_is_saved(
        self, client_for, manager, stock_take
    ):
        ids = line_ids(stock_take)
        response = client_for(manager).post(
            f"/products/stocktakes/{stock_take.pk}/count/",
            {f"line-{ids['A1']}": "-2", f"line-{ids['B1']}": "lots"},
        )
        assert response.status_code == 200
        assert "The count of lot A1 cannot be below 0." in response.text
        assert "Enter the sealed vials of lot B1 in digits only." in response.text
        assert "correct the fields marked below" in response.text
        assert not stock_take.lines.filter(counted_quantity__isnull=False).exists()

    def test_save_and_review_goes_to_the_review(self, client_for, manager, stock_take):
        ids = line_ids(stock_take)
        response = client_for(manager).post(
            f"/products/stocktakes/{stock_take.pk}/count/",
            {f"line-{ids['A1']}": "9", f"line-{ids['B1']}": "5", "review": ""},
        )
        assert response["Location"] == f"/products/stocktakes/{stock_take.pk}/review/"

    def test_the_scan_finds_the_row_from_a_gs1_code_or_a_typed_number(
        self, client_for, manager, stock_take, lots
    ):
        c = client_for(manager)
        url = f"/products/stocktakes/{stock_take.pk}/scan/"
        gtin = lots[1].product.gtin or "09506000134352"
        lots[1].product.gtin = gtin
        lots[1].product.save()
        ids = line_ids(stock_take)
        assert c.get(url, {"code": f"(01){gtin}(10)B1"}).json()["lines"] == [ids["B1"]]
        assert c.get(url, {"code": "a1"}).json()["lines"] == [ids["A1"]]
        missing = c.get(url, {"code": "ZZZ"})
        assert missing.status_code == 404 and "Lot ZZZ is not on this count" in missing.json()["error"]
        unreadable = c.get(url, {"code": "(01)123"})
        assert unreadable.status_code == 400 and "could not be read" in unreadable.json()["error"]

    def test_a_posted_stock_take_cannot_be_counted_any_more(self, client_for, manager, stock_take):
        stock_take.status = StockTakeStatus.CANCELLED
        stock_take.save()
        response = client_for(manager).get(f"/products/stocktakes/{stock_take.pk}/count/")
        assert response["Location"] == f"/products/stocktakes/{stock_take.pk}/"

    @pytest.mark.parametrize("more", [0, 12])
    def test_the_count_page_does_not_grow_with_the_lots(
        self, client_for, manager, unit, django_assert_num_queries, more
    ):
        second = StorageUnitFactory(location=unit.location, name="Second fridge")
        for i in range(2 + more):
            make_lot(unit=unit if i % 2 else second, quantity=3, actor=manager)
        stock_take = stocktake_start(actor=manager, location=unit.location)
        stocktake_count(stock_take=stock_take, actor=manager, counts={stock_take.lines.first().pk: 3})
        c = client_for(manager)
        c.get(f"/products/stocktakes/{stock_take.pk}/count/")
        with django_assert_num_queries(COUNT_PAGE_QUERIES, info=f"{2 + more} lots"):
            assert c.get(f"/products/stocktakes/{stock_take.pk}/count/").status_code == 200
        with django_assert_num_queries(REVIEW_PAGE_QUERIES, info=f"{2 + more} lots"):
            assert c.get(f"/products/stocktakes/{stock_take.pk}/review/").status_code == 200


# The request's own (session, user, permissions, second factor...), the stock-take and its
# lines in one query; the review page the same.
COUNT_PAGE_QUERIES = 7
REVIEW_PAGE_QUERIES = 7


class TestReviewAndPost:
    def count(self, stock_take, manager, **counts):
        ids = line_ids(stock_take)
        stocktake_count(stock_take=stock_take, actor=manager, counts={ids[k]: v for k, v in counts.items()})
        return ids

    def test_the_review_shows_expected_counted_and_a_reason_field_per_difference(
        self, client_for, manager, stock_take
    ):
        self.count(stock_take, manager, A1=8, B1=5)
        body = client_for(manager).get(f"/products/stocktakes/{stock_take.pk}/review/").text
        assert body.count('list="stocktake-reasons"') == 1  # only A1 differs
        assert "-2" in body and "Post 1 adjustment(s)" in body

    def test_uncounted_lots_are_named_and_there_is_no_post_button(self, client_for, manager, stock_take):
        self.count(stock_take, manager, A1=8)
        body = client_for(manager).get(f"/products/stocktakes/{stock_take.pk}/review/").text
        assert "1 lot(s) have not been counted yet" in body and "lot B1" in body
        assert "Post " not in body

    def test_posting_without_a_reason_is_explained_per_lot(self, client_for, manager, stock_take):
        ids = self.count(stock_take, manager, A1=8, B1=5)
        response = client_for(manager).post(
            f"/products/stocktakes/{stock_take.pk}/review/", {f"reason-{ids['A1']}": " "}
        )
        assert response.status_code == 200
        assert "Say why lot A1 was counted at 8 instead of 10." in response.text
        assert not StockMovement.objects.filter(kind=MovementKind.ADJUSTED).exists()

    def test_posting_writes_the_adjustments_and_shows_the_report(self, client_for, manager, stock_take, lots):
        ids = self.count(stock_take, manager, A1=8, B1=6)
        c = client_for(manager)
        response = c.post(
            f"/products/stocktakes/{stock_take.pk}/review/",
            {f"reason-{ids['A1']}": "Two broken vials", f"reason-{ids['B1']}": "Delivery not booked in"},
        )
        assert response["Location"] == f"/products/stocktakes/{stock_take.pk}/"
        for lot in lots:
            lot.refresh_from_db()
        assert [lot.quantity_on_hand for lot in lots] == [8, 6]
        body = c.get(response["Location"]).text
        assert "Stock-take posted: 2 adjustment(s)" in body
        assert "Two broken vials" in body and "+1" in body and "-2" in body and "data-print" in body
        assert AuditEvent.objects.filter(action="stocktake.post").count() == 1
        # Posted, the count and review pages lead to the report.
        assert c.get(f"/products/stocktakes/{stock_take.pk}/review/")["Location"] == response["Location"]

    def test_stock_used_meanwhile_sends_the_counter_back_to_count_that_lot(
        self, client_for, manager, stock_take, lots
    ):
        ids = self.count(stock_take, manager, A1=10, B1=4)
        stock_use(lot=lots[0], quantity=1, actor=manager, reference="treatment")
        c = client_for(manager)
        review = c.get(f"/products/stocktakes/{stock_take.pk}/review/").text
        assert "changed while counting" in review and "now 9" in review
        response = c.post(f"/products/stocktakes/{stock_take.pk}/review/", {f"reason-{ids['B1']}": "Broken"})
        assert response["Location"] == f"/products/stocktakes/{stock_take.pk}/count/"
        body = c.get(response["Location"]).text
        assert "Nothing was posted." in body and "Lot A1" in body and "9 are on record now" in body
        assert "Count again: the stock of this lot changed" in body
        lots[1].refresh_from_db()
        assert lots[1].quantity_on_hand == 5  # B1's difference was not posted either

    def test_cancel(self, client_for, manager, stock_take):
        c = client_for(manager)
        response = c.post(f"/products/stocktakes/{stock_take.pk}/cancel/", {"reason": "Wrong unit"})
        assert response["Location"] == f"/products/stocktakes/{stock_take.pk}/"
        stock_take.refresh_from_db()
        assert stock_take.status == StockTakeStatus.CANCELLED
        again = c.post(f"/products/stocktakes/{stock_take.pk}/cancel/")
        assert "already been cancelled" in c.get(again["Location"]).text


class TestListAndReport:
    def test_the_list_shows_this_locations_stock_takes_only(
        self, client_for, manager, stock_take, other_lot, other_unit, other_manager
    ):
        theirs = stocktake_start(actor=other_manager, location=other_unit.location, storage_unit=other_unit)
        body = client_for(manager).get("/products/stocktakes/").text
        assert f"#{stock_take.pk}<" in body and f"#{theirs.pk}<" not in body
        assert "Continue counting" in body

    def test_a_draft_report_keeps_the_count_blind(self, client_for, manager, stock_take):
        body = client_for(manager).get(f"/products/stocktakes/{stock_take.pk}/").text
        assert "Counting is in progress" in body and "Expected" not in body

    def test_managers_find_it_in_the_navigation_and_the_stock_overview(
        self, client_for, manager, practitioner
    ):
        assert "Stock-takes" in client_for(manager).get("/products/stock/").text

    def test_practitioners_do_not_see_the_links(self, client_for, practitioner):
        assert "Stock-takes" not in client_for(practitioner).get("/products/stock/").text

    def test_the_list_does_not_grow(self, client_for, manager, unit, lots, django_assert_num_queries):
        c = client_for(manager)
        stocktake_start(actor=manager, location=unit.location, storage_unit=unit)
        c.get("/products/stocktakes/")
        with django_assert_num_queries(LIST_QUERIES):
            c.get("/products/stocktakes/")
        for i in range(4):
            other = StorageUnitFactory(location=unit.location, name=f"Unit {i}")
            make_lot(unit=other, actor=manager)
            stocktake_start(actor=manager, location=unit.location, storage_unit=other)
        with django_assert_num_queries(LIST_QUERIES):
            c.get("/products/stocktakes/")

    @pytest.mark.parametrize("more", [0, 12])
    def test_the_posted_report_does_not_grow(
        self, client_for, manager, unit, django_assert_num_queries, more
    ):
        for _ in range(2 + more):
            make_lot(unit=unit, quantity=3, actor=manager)
        stock_take = stocktake_start(actor=manager, location=unit.location)
        lines = list(stock_take.lines.all())
        stocktake_count(stock_take=stock_take, actor=manager, counts={line.pk: 2 for line in lines})
        stocktake_post(stock_take=stock_take, actor=manager, reasons={line.pk: "Broken" for line in lines})
        c = client_for(manager)
        c.get(f"/products/stocktakes/{stock_take.pk}/")
        with django_assert_num_queries(REPORT_QUERIES, info=f"{2 + more} lines"):
            assert "Broken" in c.get(f"/products/stocktakes/{stock_take.pk}/").text


LIST_QUERIES = 7
REPORT_QUERIES = 7


class TestAddLot:
    def test_a_lot_not_listed_is_added_from_the_count_page_with_the_counts_saved(
        self, client_for, manager, unit, stock_take
    ):
        found = make_lot(unit=unit, quantity=3, lot_number="NEW-1", actor=manager)
        ids = line_ids(stock_take)
        c = client_for(manager)
        response = c.post(
            f"/products/stocktakes/{stock_take.pk}/count/", {f"line-{ids['A1']}": "10", "code": "new-1"}
        )
        body = c.get(response["Location"]).text
        assert "Lot NEW-1 added: count it below." in body and "Lot NEW-1" in body
        assert stock_take.lines.get(lot=found).expected_quantity == 3
        assert stock_take.lines.get(pk=ids["A1"]).counted_quantity == 10
        scan = c.get(f"/products/stocktakes/{stock_take.pk}/scan/", {"code": "NEW-1"})
        assert scan.json()["lines"] == [stock_take.lines.get(lot=found).pk]

    def test_an_unknown_lot_is_explained(self, client_for, manager, stock_take, other_lot):
        c = client_for(manager)
        response = c.post(f"/products/stocktakes/{stock_take.pk}/count/", {"code": other_lot.lot_number})
        assert f"No lot {other_lot.lot_number} is recorded in Main fridge" in c.get(response["Location"]).text
        assert not stock_take.lines.filter(lot=other_lot).exists()
        scan = c.get(f"/products/stocktakes/{stock_take.pk}/scan/", {"code": other_lot.lot_number})
        assert scan.json()["addable"] is False


def test_the_unit_page_offers_to_count_it(client_for, manager, unit, lots):
    body = client_for(manager).get(f"/products/units/{unit.pk}/").text
    assert f'href="/products/stocktakes/new/?unit={unit.pk}"' in body


def test_two_tablets_never_blank_each_others_counts(client_for, manager, stock_take):
    """Tablet 1 counts A1; tablet 2, loaded before that, saves only B1: A1 keeps its count."""
    ids = line_ids(stock_take)
    c = client_for(manager)
    url = f"/products/stocktakes/{stock_take.pk}/count/"
    c.post(
        url,
        {f"line-{ids['A1']}": "9", f"was-{ids['A1']}": "", f"line-{ids['B1']}": "", f"was-{ids['B1']}": ""},
    )
    c.post(
        url,
        {f"line-{ids['A1']}": "", f"was-{ids['A1']}": "", f"line-{ids['B1']}": "4", f"was-{ids['B1']}": ""},
    )
    counted = dict(stock_take.lines.values_list("pk", "counted_quantity"))
    assert counted == {ids["A1"]: 9, ids["B1"]: 4}
    # Clearing a count the page showed still works.
    c.post(url, {f"line-{ids['A1']}": "", f"was-{ids['A1']}": "9"})
    assert stock_take.lines.get(pk=ids["A1"]).counted_quantity is None


ABSURD = ("99999999999999999999", "-99999999999999999999", "1e309", "nan", "inf", "9" * 5000, "4\x00")


@pytest.mark.parametrize("value", ABSURD, ids=lambda v: v[:12])
def test_an_absurd_count_is_a_form_error_and_nothing_is_written(client_for, manager, stock_take, value):
    ids = line_ids(stock_take)
    stock_rows = AuditEvent.objects.exclude(action__startswith="auth.")  # signing in is audited
    audit_rows = stock_rows.count()
    response = client_for(manager).post(
        f"/products/stocktakes/{stock_take.pk}/count/", {f"line-{ids['A1']}": value}
    )
    assert response.status_code == 200
    assert response.context["form"].errors.get(f"line-{ids['A1']}")
    assert stock_rows.count() == audit_rows
    assert not stock_take.lines.filter(counted_quantity__isnull=False).exists()


@pytest.mark.parametrize(
    "value", ["x" * 10_000, "why\x00not", "<script>alert(1)</script>"], ids=["long", "nul", "html"]
)
def test_hostile_reasons_are_refused_or_shown_as_text(client_for, manager, stock_take, value):
    ids = line_ids(stock_take)
    stocktake_count(stock_take=stock_take, actor=manager, counts={ids["A1"]: 9, ids["B1"]: 5})
    c = client_for(manager)
    response = c.post(f"/products/stocktakes/{stock_take.pk}/review/", {f"reason-{ids['A1']}": value})
    if response.status_code == 200:  # refused: too long, or a NUL
        assert response.context["form"].errors.get(f"reason-{ids['A1']}")
        assert not StockMovement.objects.filter(kind=MovementKind.ADJUSTED).exists()
    else:
        body = c.get(response["Location"]).text
        assert "<script>alert(1)</script>" not in body and "&lt;script&gt;" in body

"""GS1 element strings as scanners type them."""

from __future__ import annotations

import datetime as dt

import pytest

from products.gs1 import GS1Error, gtin_check_digit_ok, looks_like_gs1, parse_gs1, parse_gs1_date

GTIN = "09506000134352"


@pytest.mark.parametrize(
    "text",
    [
        f"(01){GTIN}(17)271231(10)AB-123(21)SN0001",
        f"01{GTIN}17271231\x1d10AB-123\x1d21SN0001",
        f"01{GTIN}1727123110AB-123\x1d21SN0001",
        f"]C101{GTIN}1727123110AB-123\x1d21SN0001",
        f"]d201{GTIN}1727123110AB-123<GS>21SN0001",
        f"]Q301{GTIN}1727123110AB-123{{GS}}21SN0001",
        f"  01{GTIN}1727123110AB-123\x1d21SN0001\n",
        f"(01) {GTIN} (17) 271231 (10) AB-123 (21) SN0001".replace(" ", ""),
    ],
)
def test_it_reads_every_form_scanners_produce(text):
    data = parse_gs1(text)
    assert data.gtin == GTIN
    assert data.expiry == dt.date(2027, 12, 31)
    assert data.lot == "AB-123"
    assert data.serial == "SN0001"


def test_the_lot_may_come_last_without_a_separator():
    data = parse_gs1(f"01{GTIN}1726063010LOT77")
    assert (data.lot, data.expiry, data.serial) == ("LOT77", dt.date(2026, 6, 30), "")


def test_day_00_means_the_last_day_of_the_month():
    assert parse_gs1_date("280200") == dt.date(2028, 2, 29)
    assert parse_gs1_date("270200") == dt.date(2027, 2, 28)
    assert parse_gs1_date("261100") == dt.date(2026, 11, 30)


def test_the_order_of_elements_does_not_matter():
    data = parse_gs1("10XYZ\x1d17270131(01)".replace("(01)", f"01{GTIN}"))
    assert (data.gtin, data.lot, data.expiry) == (GTIN, "XYZ", dt.date(2027, 1, 31))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("01095060001343531727123110A", "check digit"),
        ("0109506000134352171313", "needs 6 characters"),
        ("(01)09506000134352(17)27AB31", "six digits"),
        ("01095060001343521727133110A", "month 13"),
        ("01095060001343521727023010A", "not a real date"),
        ("99ABC", "Unknown GS1"),
        ("(01)09506000134352(10)A(10)B", "twice"),
        ("", "empty"),
    ],
)
def test_it_explains_what_it_cannot_read(text, message):
    with pytest.raises(GS1Error, match=message):
        parse_gs1(text)


def test_check_digits():
    assert gtin_check_digit_ok(GTIN)
    assert gtin_check_digit_ok("4006381333931")
    assert not gtin_check_digit_ok("4006381333932")


def test_it_tells_a_scan_from_a_typed_lot_number():
    assert looks_like_gs1(f"(01){GTIN}(10)A")
    assert looks_like_gs1(f"]C101{GTIN}10A")
    assert looks_like_gs1(f"01{GTIN}10A")
    assert not looks_like_gs1("AB-123")
    assert not looks_like_gs1("2026-0042")

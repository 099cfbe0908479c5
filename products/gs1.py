"""Parse GS1 element strings as a barcode scanner types them into a text field.

Handles AI 01 (GTIN-14), 17 (expiry YYMMDD, day 00 = last day of the month), 10 (lot) and
21 (serial), with or without brackets, and the ways scanners emit the FNC1 separator that
ends a variable-length field: the ASCII group separator (\\x1d), a typed ``<GS>``/``{GS}``,
``^`` or ``|`` substitutes, and a leading symbology identifier such as ``]C1``, ``]d2``,
``]Q3`` or ``]e0``. Other fixed-length AIs (11, 13, 15, 16) are skipped; unknown AIs raise.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass

GS = "\x1d"

# Fixed-length AIs (length of the data after the AI). Variable ones end at GS or the end.
_FIXED = {"00": 18, "01": 14, "02": 14, "11": 6, "12": 6, "13": 6, "15": 6, "16": 6, "17": 6, "20": 2}
_VARIABLE = {"10": 20, "21": 20, "22": 20, "30": 8, "37": 8, "240": 30, "241": 30, "7003": 10}

_SYMBOLOGY = re.compile(r"^\][A-Za-z][0-9A-Za-z]")
_SEPARATORS = ("<GS>", "{GS}", "[GS]", "<FNC1>", "{FNC1}", "^", "|", "\u241d", "~")


class GS1Error(ValueError):
    """The text looks like a GS1 string but cannot be read; the message says why."""


@dataclass(frozen=True)
class GS1Data:
    gtin: str = ""
    expiry: dt.date | None = None
    lot: str = ""
    serial: str = ""

    @property
    def is_empty(self) -> bool:
        return not (self.gtin or self.expiry or self.lot or self.serial)


def gtin_check_digit_ok(gtin: str) -> bool:
    """The GS1 mod-10 check digit of a GTIN-8/12/13/14."""
    if not gtin.isdigit() or len(gtin) not in (8, 12, 13, 14):
        return False
    digits = [int(c) for c in gtin]
    body, check = digits[:-1], digits[-1]
    total = sum(d * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10 == check


def parse_gs1_date(value: str) -> dt.date:
    """YYMMDD; day 00 means the last day of the month. Years 00–49 → 2000s, 50–99 → 1900s
    (GS1's sliding window, simplified: exosome products are never dated last century)."""
    if not re.fullmatch(r"\d{6}", value):
        raise GS1Error(f"The expiry “{value}” is not six digits (YYMMDD).")
    yy, mm, dd = int(value[:2]), int(value[2:4]), int(value[4:])
    year = 2000 + yy if yy < 50 else 1900 + yy
    if not 1 <= mm <= 12:
        raise GS1Error(f"The expiry “{value}” has month {mm:02d}.")
    if dd == 0:
        dd = calendar.monthrange(year, mm)[1]
    try:
        return dt.date(year, mm, dd)
    except ValueError:
        raise GS1Error(f"The expiry “{value}” is not a real date.") from None


def looks_like_gs1(text: str) -> bool:
    """True for text a scanner produced: brackets, a symbology prefix, a GS, or 01+14 digits."""
    t = text.strip()
    return bool(
        t.startswith("(")
        or _SYMBOLOGY.match(t)
        or GS in t
        or any(s in t for s in _SEPARATORS[:5])
        or re.match(r"^01\d{14}", t)
    )


def _normalise(text: str) -> str:
    t = text.strip()
    t = _SYMBOLOGY.sub("", t)
    for sep in _SEPARATORS:
        t = t.replace(sep, GS)
    return t.strip(GS)


def _parse_bracketed(text: str) -> list[tuple[str, str]]:
    pairs = re.findall(r"\((\d{2,4})\)([^(]*)", text)
    if not pairs or re.sub(r"\((\d{2,4})\)([^(]*)", "", text).strip():
        raise GS1Error("The bracketed GS1 string could not be read.")
    return [(ai, value.replace(GS, "").strip()) for ai, value in pairs]


def _parse_plain(text: str) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    i = 0
    while i < len(text):
        if text[i] == GS:
            i += 1
            continue
        ai = next((a for a in (text[i : i + 2], text[i : i + 3], text[i : i + 4]) if a in _FIXED), None)
        if ai is not None:
            length = _FIXED[ai]
            value = text[i + len(ai) : i + len(ai) + length]
            if len(value) != length or GS in value:
                raise GS1Error(f"AI ({ai}) needs {length} characters.")
            pairs.append((ai, value))
            i += len(ai) + length
            continue
        ai = next((a for a in (text[i : i + 2], text[i : i + 3], text[i : i + 4]) if a in _VARIABLE), None)
        if ai is None:
            raise GS1Error(f"Unknown GS1 application identifier at “{text[i : i + 4]}”.")
        end = text.find(GS, i + len(ai))
        end = len(text) if end == -1 else end
        value = text[i + len(ai) : end]
        if not value or len(value) > _VARIABLE[ai]:
            raise GS1Error(f"AI ({ai}) must hold 1 to {_VARIABLE[ai]} characters.")
        pairs.append((ai, value))
        i = end
    return pairs


def parse_gs1(text: str) -> GS1Data:
    """Read GTIN, expiry, lot and serial from a scanned GS1 element string."""
    t = _normalise(text)
    if not t:
        raise GS1Error("The scanned text is empty.")
    pairs = _parse_bracketed(t) if t.startswith("(") else _parse_plain(t)
    found: dict[str, str] = {}
    for ai, value in pairs:
        if ai in found:
            raise GS1Error(f"AI ({ai}) appears twice.")
        found[ai] = value
    gtin = found.get("01", "")
    if gtin and not gtin_check_digit_ok(gtin):
        raise GS1Error(f"The GTIN {gtin} has a wrong check digit.")
    expiry = parse_gs1_date(found["17"]) if "17" in found else None
    data = GS1Data(gtin=gtin, expiry=expiry, lot=found.get("10", ""), serial=found.get("21", ""))
    if data.is_empty:
        raise GS1Error("The scanned text holds no GTIN, expiry, lot or serial.")
    return data

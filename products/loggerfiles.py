"""Reading data-logger exports as loggers write them.

A file is read in two passes over the bytes, so memory does not grow with it:

1. ``analyse`` finds the encoding, the preamble and header, the separator, the columns, the
   temperature unit and the date format (from every line of the file), and every line that
   cannot be read, with its number and reason.
2. ``LoggerFile.samples()`` streams the readings as (line, wall-clock time, °C).

Wall-clock times carry no zone unless the file wrote one; the import service reads them in the
unit's logger clock (``StorageUnit.logger_clock``). Nothing here touches the database.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import BinaryIO


@dataclass(slots=True)
class Sample:
    """One reading: its line in the file, the time as written (naive unless the file gave an
    offset), and the temperature in °C to two decimals."""

    line: int
    when: dt.datetime
    celsius: Decimal


@dataclass(frozen=True)
class LineNote:
    line: int
    reason: str


@dataclass
class Question:
    """Something the file does not tell, which the user must answer before anything is imported.

    ``choices`` maps each answer to how the sample line reads with it (e.g. the date
    "03/04/2026 10:00" read day-first and month-first)."""

    key: str  # "date_format" or "temperature_unit"
    prompt: str
    line: int
    text: str
    choices: dict[str, str]


@dataclass
class LoggerFile:
    """What ``analyse`` learnt about a file. ``refused`` lists every line that cannot be read
    (the file is then refused as a whole); ``questions`` what the user must answer first."""

    lines: int = 0
    layout: str = "generic"
    encoding: str = "utf-8"
    delimiter: str = ","
    decimal_comma: bool = False
    temperature_unit: str = ""  # "C" or "F"; empty: asked
    date_format: str = ""  # a key of DATE_ORDERS, with "12h" when times carry AM/PM
    header_line: int | None = None
    # Lines that hold no reading, by reason: their count, and their line numbers as runs
    # (first, last), at most MAX_RUNS runs kept per reason.
    skipped_counts: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, list[list[int]]] = field(default_factory=dict)
    refused: list[LineNote] = field(default_factory=list)
    refused_count: int = 0
    questions: list[Question] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)  # the preamble's device details
    interval: dt.timedelta | None = None  # stated in the preamble
    readings: int = 0  # lines holding a reading
    notes: list[str] = field(default_factory=list)  # how clock changes were read
    # The second pass: readings, and (for lines only it can judge) the reasons a line is refused.
    samples: Callable[[], Iterator[Sample | LineNote]] = field(default=lambda: iter(()), repr=False)

    @property
    def ok(self) -> bool:
        # (a note on line 0 is about the file as a whole and counts no line)
        return not self.refused_count and not self.refused and not self.questions

    @property
    def skipped_count(self) -> int:
        return sum(self.skipped_counts.values())

    def skip(self, reason: str, line: int) -> None:
        self.skipped_counts[reason] = self.skipped_counts.get(reason, 0) + 1
        runs = self.skipped.setdefault(reason, [])
        if runs and runs[-1][1] == line - 1:
            runs[-1][1] = line
        elif len(runs) < MAX_RUNS:
            runs.append([line, line])


# --- Limits -------------------------------------------------------------------------------------

MAX_LINE = 1000  # characters: a logger line is a few dozen; anything longer is not a reading
MAX_NOTES = 100  # refused lines kept with their reasons (all are counted)
MAX_RUNS = 50  # runs of skipped line numbers kept per reason (all are counted)
PLAUSIBLE_C = (Decimal("-100"), Decimal("60"))
EARLIEST = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
FUTURE_SLACK = dt.timedelta(minutes=5)

# Date orders a file may use; the one every line fits is chosen, never guessed between two.
DATE_ORDERS = {
    "ymd": "year-month-day (2026-03-31)",
    "dmy": "day/month/year (31/03/2026)",
    "mdy": "month/day/year (03/31/2026)",
    "named": "with the month's name (31 Mar 2026)",
}
MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("jan", "january", "januar", "janv", "janvier", "ene", "enero", "gen"),
            ("feb", "february", "februar", "fev", "fevr", "fevrier", "febrero", "febbraio"),
            ("mar", "march", "marz", "mär", "märz", "mars", "marzo", "mrz"),
            ("apr", "april", "avr", "avril", "abr", "abril", "aprile"),
            ("may", "mai", "mayo", "mag", "maggio"),
            ("jun", "june", "juni", "juin", "junio", "giu", "giugno"),
            ("jul", "july", "juli", "juil", "juillet", "julio", "lug", "luglio"),
            ("aug", "august", "aout", "août", "ago", "agosto"),
            ("sep", "sept", "september", "septembre", "septiembre", "set", "settembre"),
            ("oct", "october", "okt", "oktober", "octobre", "octubre", "ott", "ottobre"),
            ("nov", "november", "novembre", "noviembre"),
            ("dec", "december", "dez", "dezember", "decembre", "décembre", "dic", "diciembre", "dicembre"),
        ),
        start=1,
    )
    for name in names
}

_NUM_DATE = r"(?P<a>\d{1,4})(?P<s1>[./-])(?P<b>\d{1,2})(?P=s1)(?P<c>\d{2,4})"
_NAMED_DATE = (
    r"(?:(?P<nd>\d{1,2})[ .-]*(?P<nm>[^\W\d_]{3,9})\.?[ .,-]*(?P<ny>\d{4})"
    r"|(?P<nm2>[^\W\d_]{3,9})\.?[ ]+(?P<nd2>\d{1,2}),?[ ]+(?P<ny2>\d{4}))"
)
_TIME = (
    r"(?P<H>\d{1,2})[:.](?P<M>\d{2})(?:[:.](?P<S>\d{2})(?:[.,]\d+)?)?"
    r"\s*(?P<ampm>[AaPp]\.?\s?[Mm]\.?)?\s*(?P<tz>Z|UTC|GMT|[+-]\d{2}:?\d{2})?"
)
STAMP = re.compile(rf"^\s*(?:{_NUM_DATE}|{_NAMED_DATE})(?:[T ,;]+{_TIME})?\s*$")
TIME_ONLY = re.compile(rf"^\s*{_TIME}\s*$")
NUMBER = re.compile(r"^\s*([+\-−]?\d+(?:[.,]\d+)?)\s*(°?\s*[CcFf])?\s*$")
DATE_LIKE = re.compile(r"\d{1,4}[./-]\d{1,2}[./-]\d{2,4}|\d{1,2}:\d{2}")
FOOTERISH = "\x00footer"  # marks a refused line with no date or time in it


def _footerish(line: str) -> str:
    return "" if DATE_LIKE.search(line) else FOOTERISH


PLAIN_NUMBER = re.compile(r"-?\d{1,4}(?:[.,]\d{1,6})?")  # "4.5", "-18,25": the common case

TIME_WORDS = (
    "date",
    "time",
    "timestamp",
    "datum",
    "zeit",
    "fecha",
    "hora",
    "heure",
    "data",
    "ora",
    "uhrzeit",
)
TEMP_WORDS = ("temp", "°", "celsius", "fahrenheit", "degc", "degf", "value", "reading", "wert", "messwert")
NOT_TEMP_WORDS = ("alarm", "limit", "humid", "rh", "%", "dew", "battery", "status", "event")


class Stamp:
    """A timestamp cut into its parts, before the date order is known."""

    __slots__ = ("a", "ampm", "b", "hour", "kind", "minute", "offset", "second", "year")

    def __init__(self, kind, a, b, year, hour, minute, second, ampm, offset):
        self.kind = kind  # "ymd", "num" (day and month order unknown) or "named"
        self.a, self.b, self.year = a, b, year
        self.hour, self.minute, self.second = hour, minute, second
        self.ampm = ampm  # "", "am" or "pm"
        self.offset = offset

    def orders(self) -> tuple[str, ...]:
        if self.kind != "num":
            return (self.kind,)
        fits = []
        if 1 <= self.b <= 12 and 1 <= self.a <= 31:
            fits.append("dmy")
        if 1 <= self.a <= 12 and 1 <= self.b <= 31:
            fits.append("mdy")
        return tuple(fits)

    def datetime(self, order: str) -> dt.datetime:
        """The wall-clock time under ``order``; ValueError for a date or time that is not one."""
        if self.kind == "num":
            day, month = (self.a, self.b) if order == "dmy" else (self.b, self.a)
        else:
            month, day = self.a, self.b
        hour = self.hour
        if self.ampm:
            if not 1 <= hour <= 12:
                raise ValueError("an hour with AM/PM is 1 to 12")
            hour = hour % 12 + (12 if self.ampm == "pm" else 0)
        return dt.datetime(self.year, month, day, hour, self.minute, self.second, tzinfo=self.offset)


def _offset(text: str | None) -> dt.tzinfo | None:
    if not text:
        return None
    if text in ("Z", "UTC", "GMT"):
        return dt.UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:])
    if hours > 14 or minutes > 59:  # no zone is further from UTC than ±14:00
        raise ValueError(f"{text} is not an offset from UTC")
    return dt.timezone(sign * dt.timedelta(hours=hours, minutes=minutes))


def _year(text: str) -> int:
    year = int(text)
    return year + 2000 if len(text) == 2 else year


# The common shapes, matched first: "31/03/2026 14:05[:00]", "2026-03-31T14:05:00", and a date
# and a time in two cells.
FAST_STAMP = re.compile(r"\s*(\d{1,4})([./-])(\d{1,2})\2(\d{2,4})[T ]+(\d{1,2}):(\d{2})(?::(\d{2}))?\s*")
FAST_DATE = re.compile(r"\s*(\d{1,4})([./-])(\d{1,2})\2(\d{2,4})\s*")
FAST_TIME = re.compile(r"\s*(\d{1,2}):(\d{2})(?::(\d{2}))?\s*")


def _fast_stamp(text: str, time_text: str | None) -> Stamp | None:
    if time_text is None:
        m = FAST_STAMP.fullmatch(text)
        if m is None:
            return None
        a, _, b, c, hh, mm, ss = m.groups()
    else:
        d, t = FAST_DATE.fullmatch(text), FAST_TIME.fullmatch(time_text)
        if d is None or t is None:
            return None
        a, _, b, c = d.groups()
        hh, mm, ss = t.groups()
    if len(a) == 4:
        return Stamp("ymd", int(b), int(c), int(a), int(hh), int(mm), int(ss or 0), "", None)
    if len(a) == 3 or len(c) == 3:
        return None
    return Stamp("num", int(a), int(b), _year(c), int(hh), int(mm), int(ss or 0), "", None)


def _date_parts(text: str) -> tuple[str, int, int, int] | None:
    m = FAST_DATE.fullmatch(text)
    if m is None:
        return None
    a, _, b, c = m.groups()
    if len(a) == 4:
        return ("ymd", int(b), int(c), int(a))
    if len(a) == 3 or len(c) == 3:
        return None
    return ("num", int(a), int(b), _year(c))


def _time_parts(text: str) -> tuple[int, int, int, str, dt.tzinfo | None] | None:
    m = TIME_ONLY.fullmatch(text)
    if m is None:
        return None
    ampm = (m["ampm"] or "").lower().replace(".", "").replace(" ", "")
    try:
        return (int(m["H"]), int(m["M"]), int(m["S"] or 0), ampm, _offset(m["tz"]))
    except ValueError:
        return None


def parse_stamp(text: str, time_text: str | None = None) -> Stamp | None:
    """Cut "31/03/2026 14:05", "2026-03-31T14:05:00Z", "Mar 31, 2026 2:05 PM" (and a separate
    time cell) into parts; None when it is not a timestamp."""
    fast = _fast_stamp(text, time_text)
    if fast is not None:
        return fast
    m = STAMP.match(text)
    if m is None:
        return None
    g = m.groupdict()
    if time_text is not None:
        if g["H"] is not None:
            return None
        t = TIME_ONLY.match(time_text)
        if t is None:
            return None
        g.update(t.groupdict())
    if g["H"] is None:
        return None  # a date alone is not a reading's time
    ampm = (g["ampm"] or "").lower().replace(".", "").replace(" ", "")
    try:
        time_parts = (int(g["H"]), int(g["M"]), int(g["S"] or 0), ampm, _offset(g["tz"]))
    except ValueError:
        return None
    if g["a"] is not None:
        a, b, c = g["a"], g["b"], g["c"]
        if len(a) == 4:
            return Stamp("ymd", int(b), int(c), int(a), *time_parts)
        if len(a) == 3 or len(c) == 3:
            return None
        return Stamp("num", int(a), int(b), _year(c), *time_parts)
    name = (g["nm"] or g["nm2"]).lower()
    month = MONTHS.get(name) or MONTHS.get(name[:3])
    if month is None:
        return None
    day = int(g["nd"] or g["nd2"])
    return Stamp("named", month, day, int(g["ny"] or g["ny2"]), *time_parts)


def parse_number(text: str) -> tuple[Decimal, str] | None:
    """A temperature cell: "4.5", "4,5", "-18,2 °C", "39.2F" -> (value, "C"/"F"/"")."""
    m = NUMBER.match(text)
    if m is None:
        return None
    raw = m.group(1).replace("−", "-").replace(",", ".")
    unit = (m.group(2) or "").replace("°", "").strip().upper()
    try:
        return Decimal(raw), unit
    except InvalidOperation:
        return None


def to_celsius(value: Decimal, unit: str) -> Decimal:
    if unit == "F":
        value = (value - 32) * 5 / 9
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)


def unit_in(text: str) -> str:
    """ "C" or "F" when a header or preamble text names one unit (°C, (F), Fahrenheit…), else ""."""
    low = text.lower().replace("º", "°")
    tokens = set(re.split(r"[^a-z°]+", low.replace("°", " ° ")))
    says_f = "°f" in low.replace(" ", "") or bool(tokens & {"f", "degf", "fahrenheit"})
    says_c = "°c" in low.replace(" ", "") or bool(tokens & {"c", "degc", "celsius"})
    if says_f and not says_c:
        return "F"
    if says_c and not says_f:
        return "C"
    return ""


def _interval(text: str) -> dt.timedelta | None:
    """A preamble's interval: "5 min", "00:05:00", "300 s", "10 Minutes", "1 h"."""
    text = text.strip().lower()
    m = re.fullmatch(r"(\d{1,2}):(\d{2})(?::(\d{2}))?", text)
    if m:
        if m.group(3) is None:
            return dt.timedelta(minutes=int(m.group(1)), seconds=int(m.group(2)))
        return dt.timedelta(hours=int(m.group(1)), minutes=int(m.group(2)), seconds=int(m.group(3)))
    m = re.match(r"(\d+(?:[.,]\d+)?)\s*(s|sec|second|m|min|minute|h|hr|hour)", text)
    if not m:
        return None
    amount = float(m.group(1).replace(",", "."))
    unit = {"s": "seconds", "sec": "seconds", "second": "seconds", "h": "hours", "hr": "hours"}
    interval = dt.timedelta(**{unit.get(m.group(2), "minutes"): amount})
    return interval if dt.timedelta(seconds=1) <= interval <= dt.timedelta(days=1) else None


# --- Logger clocks -----------------------------------------------------------------------------


class ClockReader:
    """Reads the wall-clock times of one file in a logger's zone, in file order.

    A local time that happens twice (the night the clocks go back) is the one nearer the
    previous reading, so a log in either order reads right (a tie goes the way the file runs);
    a local time that does not exist (the night they go forward) is refused: the logger's
    clock is not what the unit says.
    """

    def __init__(self, tz: dt.tzinfo):
        self.tz = tz
        self.previous: dt.datetime | None = None
        self.last: dt.datetime | None = None  # the reading before ``previous``
        self.notes: list[str] = []
        self._hours: dict[tuple[int, int, int, int], dt.timedelta | None] = {}

    def uniform_offset(self, naive: dt.datetime) -> dt.timedelta | None:
        """The zone's offset throughout this wall-clock hour, or None when it changes in it."""
        return self.offset_at(naive.year, naive.month, naive.day, naive.hour)

    def offset_at(self, year: int, month: int, day: int, hour: int) -> dt.timedelta | None:
        """``uniform_offset`` by the hour's parts, each hour worked out once (None too for an
        hour that is not one, e.g. 31 February)."""
        key = (year, month, day, hour)
        if key not in self._hours:
            try:
                start = dt.datetime(year, month, day, hour)
            except ValueError:
                self._hours[key] = None
                return None
            end = start + dt.timedelta(minutes=59, seconds=59)
            offsets = {
                moment.replace(tzinfo=self.tz, fold=fold).utcoffset()
                for moment in (start, end)
                for fold in (0, 1)
            }
            self._hours[key] = offsets.pop() if len(offsets) == 1 else None
        return self._hours[key]

    def read(self, naive: dt.datetime) -> dt.datetime | str:
        """The instant (UTC) or, for a time that cannot be read in this zone, the reason."""
        try:
            return self._read(naive)
        except OverflowError:
            return f"{naive:%d %b %Y %H:%M} is out of the range of dates"

    def _read(self, naive: dt.datetime) -> dt.datetime | str:
        offset = self.uniform_offset(naive)
        if offset is not None:
            when = (naive - offset).replace(tzinfo=dt.UTC)
        else:
            first = naive.replace(tzinfo=self.tz, fold=0)
            second = naive.replace(tzinfo=self.tz, fold=1)
            if first.astimezone(dt.UTC).astimezone(self.tz).replace(tzinfo=None) != naive:
                return (
                    f"{naive:%d %b %Y %H:%M} does not exist in {self.tz} time (the clocks went "
                    "forward): if this logger's clock does not change for summer time, set the "
                    "unit's logger clock to UTC or a fixed offset"
                )
            a, b = first.astimezone(dt.UTC), second.astimezone(dt.UTC)
            if a == b:
                when = a
            elif self.previous is None:
                when = a
                self.notes.append(
                    f"{naive:%d %b %Y %H:%M} happens twice; read as the first (before the clocks went back)"
                )
            else:
                # The nearer the previous reading (not the same instant again); a tie goes the
                # way the file runs (earlier in a file written newest first).
                previous = self.previous
                backwards = self.last is not None and previous < self.last
                candidates = [c for c in (a, b) if c != previous] or [a]
                when = min(
                    candidates,
                    key=lambda c: (abs(c - previous), (c > previous) if backwards else (c < previous)),
                )
        self.last, self.previous = self.previous, when
        return when


# --- Reading a file ----------------------------------------------------------------------------


def detect_encoding(head: bytes) -> str:
    if head.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    sample = head[:400]
    if len(sample) >= 4 and sample[1::2].count(0) > len(sample) // 4:
        return "utf-16-le"
    if len(sample) >= 4 and sample[0::2].count(0) > len(sample) // 4:
        return "utf-16-be"
    return "utf-8"


def _lines(fileobj: BinaryIO, encoding: str) -> Iterator[str]:
    fileobj.seek(0)
    wrapper = io.TextIOWrapper(fileobj, encoding=encoding, newline=None)
    try:
        for line in wrapper:
            yield line.rstrip("\n")
    finally:
        wrapper.detach()


def _split(line: str, delimiter: str) -> list[str]:
    if '"' in line:
        return next(csv.reader([line], delimiter=delimiter))
    return line.split(delimiter)


def _delimiter(line: str) -> str:
    counts = {d: line.count(d) for d in ("\t", ";", ",")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


@dataclass
class Columns:
    delimiter: str
    date: int
    time: int | None
    temperature: int
    unit: str  # from the header: "C", "F" or ""
    header: list[str] | None

    needed: int = 0

    def __post_init__(self) -> None:
        self.needed = max(self.date, self.time or 0, self.temperature)


def _header_columns(line: str) -> Columns | None:
    """A header naming a time column (or date and time) and a temperature column."""
    delimiter = _delimiter(line)
    cells = [c.strip().strip('"').strip() for c in _split(line, delimiter)]
    names = [c.lower() for c in cells]
    if len(cells) < 2 or any(parse_number(c) for c in cells if c):
        return None
    timeish = [i for i, n in enumerate(names) if any(w in n for w in TIME_WORDS)]
    temps = [
        i
        for i, n in enumerate(names)
        if i not in timeish
        and (any(w in n for w in TEMP_WORDS) or n in ("c", "f", "°c", "°f"))
        and not any(w in n for w in NOT_TEMP_WORDS)
    ]
    if not timeish or not temps:
        return None
    dates = [i for i in timeish if "date" in names[i] or "datum" in names[i] or "fecha" in names[i]]
    times = [i for i in timeish if i not in dates]
    if dates and times and not any(w in names[dates[0]] for w in ("time", "zeit", "hora", "heure")):
        date, time = dates[0], times[0]
    else:
        date, time = timeish[0], None
    strong = [
        i for i in temps if any(w in names[i] for w in TEMP_WORDS[:6]) or names[i] in ("c", "f", "°c", "°f")
    ]
    temperature = (strong or temps)[0]
    return Columns(delimiter, date, time, temperature, unit_in(cells[temperature]), cells)


def _data_columns(line: str) -> Columns | None:
    """A line with no header before it that already reads as a time and a temperature."""
    delimiter = _delimiter(line)
    cells = _split(line, delimiter)
    for date, time in ((0, None), (0, 1), (1, None), (1, 2)):
        needed = (time if time is not None else date) + 1
        if len(cells) <= needed:
            continue
        if parse_stamp(cells[date], cells[time] if time is not None else None) is None:
            continue
        for temperature in range(needed, len(cells)):
            if parse_number(cells[temperature]):
                return Columns(delimiter, date, time, temperature, "", None)
    return None


def _preamble_entry(line: str) -> tuple[str, str] | None:
    for sep in (":", "\t", ";", ",", "="):
        key, found, value = line.partition(sep)
        key, value = key.strip().strip('"').strip(), value.strip().strip(sep).strip().strip('"').strip()
        if found and key and value and len(key) <= 60:
            return key, value
    return None


NO_READING = {"--.-", "---", "--", "-.-", "n/a", "na", "err", "error", "no data", "nan"}
LAYOUTS = (
    ("logtag", ("logtag",)),
    ("fridgetag", ("fridge-tag", "fridgetag", "berlinger")),
    ("elitech", ("elitech", "rc-4", "rc-5", "rc-51")),
)


class _Event:
    __slots__ = ("kind", "line", "raw", "reason", "stamp", "text")

    def __init__(
        self,
        kind: str,
        line: int,
        reason: str = "",
        stamp: Stamp | None = None,
        text: str = "",
        raw: str = "",
    ):
        self.kind = kind  # "skip", "refuse" or "data"
        self.line = line
        self.reason = reason
        self.stamp = stamp
        self.text = text  # the temperature cell, as written
        self.raw = raw  # the line (for a reading), or FOOTERISH


class _Walker:
    """Walks a file's lines once: preamble, header, then one event per line."""

    def __init__(self) -> None:
        self.columns: Columns | None = None
        self.metadata: dict[str, str] = {}
        self.preamble_text: list[str] = []
        self.header_line: int | None = None
        self.layout = "generic"
        self.header_text: str | None = None
        self._dates: dict[str, tuple[str, int, int, int] | None] = {}
        self._times: dict[str, tuple[int, int, int, str, dt.tzinfo | None] | None] = {}

    def walk(self, lines: Iterator[str]) -> Iterator[_Event]:
        berlinger = False
        section = ""
        pending: tuple[int, str, Columns] | None = None  # a header waiting for its first reading
        for number, line in enumerate(lines, start=1):
            if number == 1 or (not berlinger and self.columns is None and line.startswith("Device:")):
                berlinger = line.lstrip("\ufeff").startswith("Device:") and "tag" in line.lower()
                if berlinger:
                    self.layout = "fridgetag"
            if berlinger and len(line) <= MAX_LINE:
                # Berlinger's report: nested "Key: value" lines; the readings are the
                # tab-separated rows of its Data: section (header "yyyy-MM-dd hh:mm  T  …").
                if line and not line[0].isspace():
                    section = line.split(":", 1)[0].strip()
                if section == "Data" and line.startswith("\t"):
                    if self.columns is None:
                        self.columns = Columns("\t", 1, None, 2, "", None)
                        self.header_line = number
                        yield _Event("skip", number, "header")
                        continue
                    yield self._data(number, line, self.columns)
                    continue
                for item in line.strip().split(", "):
                    entry = _preamble_entry(item)
                    if entry and entry[0] not in self.metadata:
                        self.metadata[entry[0]] = entry[1][:200]
                yield _Event("skip", number, "blank" if not line.strip() else "report")
                continue
            if len(line) > MAX_LINE:
                yield _Event(
                    "refuse",
                    number,
                    f"the line is {len(line):,} characters long; a logger's line is a few dozen "
                    "(this is not a logger export, or it is damaged)",
                )
                continue
            if not line.strip() or not line.strip(" ,;\t\"'"):
                yield _Event("skip", number, "blank")
                continue
            if self.columns is None:
                header = _header_columns(line)
                if header is not None:
                    # A header only counts when a reading follows it: a preamble line such as
                    # "Date format: dd/mm/yyyy, Temperature unit: °C" names the same words.
                    if pending is not None:
                        yield self._preamble(*pending[:2])
                    pending = (number, line, header)
                    continue
                if pending is not None:
                    p_number, p_line, p_columns = pending
                    pending = None
                    event = self._data(number, line, p_columns)
                    cells = _split(line, p_columns.delimiter)
                    # A reading, or a broken one: the header's shape, or a time in its first cells.
                    broken = len(cells) == len(p_columns.header or ()) or any(
                        parse_stamp(cell) for cell in cells[:3]
                    )
                    if event.kind == "data" or (event.kind == "refuse" and broken):
                        self.columns, self.header_line, self.header_text = p_columns, p_number, p_line
                        yield _Event("skip", p_number, "header")
                        yield event
                        continue
                    yield self._preamble(p_number, p_line)
                data = _data_columns(line)
                if data is None:
                    yield self._preamble(number, line)
                    continue
                self.columns = data
            yield self._data(number, line, self.columns)
        if pending is not None:  # a header and no line after it
            self.columns, self.header_line, self.header_text = pending[2], pending[0], pending[1]
            yield _Event("skip", pending[0], "header")

    def _preamble(self, number: int, line: str) -> _Event:
        entry = _preamble_entry(line)
        if entry and entry[0] not in self.metadata:
            self.metadata[entry[0]] = entry[1][:200]
        if len(self.preamble_text) < 200:
            self.preamble_text.append(line[:200])
        return _Event("skip", number, "preamble")

    def _stamp(self, date_cell: str, time_cell: str | None) -> Stamp | None:
        """``parse_stamp``, with each distinct date and time of day parsed once: a year of
        5-minute samples holds 365 dates and 288 times of day, not 105 120 timestamps."""
        date_text, time_text = date_cell, time_cell
        if time_text is None:
            date_text, sep, time_text = date_cell.strip().partition(" ")
            if not sep:
                date_text, sep, time_text = date_text.partition("T")
        if date_text in self._dates:
            date = self._dates[date_text]
        else:
            date = self._dates[date_text] = _date_parts(date_text)
        if time_text in self._times:
            when = self._times[time_text]
        else:
            when = self._times[time_text] = _time_parts(time_text)
        if date is None or when is None:
            return parse_stamp(date_cell, time_cell)
        return Stamp(*date, *when)

    def _data(self, number: int, line: str, cols: Columns) -> _Event:
        if line == self.header_text:
            return _Event("skip", number, "header")
        cells = _split(line, cols.delimiter)
        if len(cells) <= cols.needed:
            return _Event(
                "refuse", number, "expected a time and a temperature on this line", raw=_footerish(line)
            )
        raw_time = cells[cols.time] if cols.time is not None else None
        stamp = self._stamp(cells[cols.date], raw_time)
        if stamp is None:
            shown = cells[cols.date].strip() + (f" {raw_time.strip()}" if raw_time else "")
            return _Event("refuse", number, f"“{shown[:40]}” is not a date and time", raw=_footerish(line))
        raw = cells[cols.temperature].strip()
        if not raw[-1:].isdigit() and raw.lower() in NO_READING:
            return _Event("skip", number, f"no reading (the logger wrote “{raw}”)")
        return _Event("data", number, stamp=stamp, text=raw, raw=line)


def _metadata_unit(metadata: dict[str, str], preamble: list[str]) -> str:
    for key, value in metadata.items():
        if "unit" in key.lower() or "einheit" in key.lower():
            unit = unit_in(value) or {"C": "C", "F": "F"}.get(value.strip().upper().lstrip("°"), "")
            if unit:
                return unit
    return unit_in(" ".join(preamble))


def _metadata_interval(metadata: dict[str, str]) -> dt.timedelta | None:
    for key, value in metadata.items():
        if "interval" in key.lower() or "intervall" in key.lower():
            found = _interval(value)
            if found is None and value.strip().isdigit():
                found = _interval(f"{value} min")
            if found is not None:
                return found
    return None


def _describe(when: dt.datetime) -> str:
    return f"{when:%A} {when.day} {when:%B %Y, %H:%M}"


def analyse(
    fileobj: BinaryIO,
    *,
    clock: dt.tzinfo,
    answers: dict[str, str] | None = None,
    now: dt.datetime | None = None,
) -> LoggerFile:
    """Read the whole file once and say what it is, which lines cannot be read and why, and
    what must be asked; ``samples()`` then streams its readings (see the module docstring).

    ``clock`` is the zone the logger's times are written in; ``answers`` holds the user's
    answers to earlier questions ("date_format": "dmy"/"mdy", "temperature_unit": "C"/"F").
    """
    answers = answers or {}
    now = now or dt.datetime.now(dt.UTC)
    fileobj.seek(0)
    head = fileobj.read(4096)
    if head.startswith(b"PK\x03\x04") or head.startswith(b"\xd0\xcf\x11\xe0"):
        result = LoggerFile(lines=0)
        result.refused.append(
            LineNote(0, "this is a spreadsheet (Excel) file: export or save it as CSV or text first")
        )
        return result
    encoding = detect_encoding(head)
    try:
        return _analyse(fileobj, encoding, clock, answers, now)
    except UnicodeDecodeError:
        if encoding != "utf-8":
            result = LoggerFile()
            result.refused.append(LineNote(0, f"the file is not readable as {encoding} text"))
            return result
        return _analyse(fileobj, "latin-1", clock, answers, now)


def _analyse(
    fileobj: BinaryIO, encoding: str, clock: dt.tzinfo, answers: dict[str, str], now: dt.datetime
) -> LoggerFile:
    """The first pass: what the file is, and which way round its dates are. Only what needs
    no date order is checked here; ``samples()`` checks the rest (see ``_samples``)."""
    result = LoggerFile(encoding=encoding)
    walker = _Walker()
    # Lines each date order fits, counted rather than tried: "num" dates fit day-first when
    # the second number can be a month, month-first when the first can.
    kinds = {"ymd": 0, "named": 0}
    dmy = mdy = data_lines = 0
    first_fits: tuple[str, ...] = ()
    telling: Stamp | None = None  # a line that reads differently day-first and month-first
    telling_line = 0
    unit_sample: _Event | None = None
    cell_units: set[str] = set()
    footer: list[LineNote] = []  # dateless lines after the last reading so far
    for event in walker.walk(_lines(fileobj, encoding)):
        result.lines = max(result.lines, event.line)
        if event.kind == "skip":
            result.skip(event.reason, event.line)
            continue
        if event.kind == "refuse":
            if event.raw == FOOTERISH and data_lines:
                # No date or time in it: a summary after the readings ("Max,12.3°C") if no
                # reading follows, else a refused line.
                footer.append(LineNote(event.line, event.reason))
                continue
            result.refused_count += 1
            if len(result.refused) < MAX_NOTES:
                result.refused.append(LineNote(event.line, event.reason))
            continue
        if footer:
            result.refused_count += len(footer)
            result.refused.extend(footer[: max(MAX_NOTES - len(result.refused), 0)])
            footer.clear()
        data_lines += 1
        stamp = event.stamp
        assert stamp is not None
        line_fits = stamp.orders()
        if stamp.kind == "num":
            dmy += "dmy" in line_fits
            mdy += "mdy" in line_fits
            if telling is None and len(line_fits) == 2 and stamp.a != stamp.b:
                telling, telling_line = stamp, event.line
        else:
            kinds[stamp.kind] += 1
        if data_lines == 1:
            first_fits = line_fits
        if event.text[-1:].isalpha():  # "4.5°C", "40F"
            parsed = parse_number(event.text)
            if parsed and parsed[1]:
                cell_units.add(parsed[1])
        if unit_sample is None:
            unit_sample = event
    for note in footer:
        result.skip("footer (after the last reading)", note.line)
    result.layout = walker.layout if walker.layout != "generic" else _layout(walker)
    result.metadata = walker.metadata
    result.interval = _metadata_interval(walker.metadata)
    result.header_line = walker.header_line
    if walker.columns is not None:
        result.delimiter = walker.columns.delimiter
    if data_lines == 0:
        if not result.refused_count:
            reason = (
                "this report holds daily minimum and maximum temperatures only, no logged readings "
                "(a Data section): import the logger's full report, or record the daily min/max as checks"
                if walker.layout == "fridgetag"
                else "no line reads as a reading: a logger export needs a date-and-time column and a "
                "temperature column"
            )
            result.refused.append(LineNote(0, reason))
        return result
    # The date order: the one every line fits (or most, the rest refused); two that fit
    # equally are asked, never guessed. A tie goes to the orders the first reading fits.
    # An answer only settles what the file leaves open: it never overrides what the file says.
    fits = {"ymd": kinds["ymd"], "named": kinds["named"], "dmy": dmy, "mdy": mdy}
    top = max(fits.values())
    best = [key for key, n in fits.items() if n == top]
    best = [key for key in best if key in first_fits] or best
    if set(best) == {"dmy", "mdy"} and answers.get("date_format") in ("dmy", "mdy"):
        best = [answers["date_format"]]
    if set(best) == {"dmy", "mdy"}:
        if telling is not None:
            result.questions.append(
                Question(
                    key="date_format",
                    prompt="Which way round does this logger write its dates?",
                    line=telling_line,
                    text=_stamp_text(telling),
                    choices={
                        key: _describe(telling.datetime(key).replace(tzinfo=None)) for key in ("dmy", "mdy")
                    },
                )
            )
        best = ["dmy"]  # (with no telling line, every day equals its month: both read the same)
    result.date_format = best[0]
    assert walker.columns is not None
    unit = walker.columns.unit or _metadata_unit(walker.metadata, walker.preamble_text)
    unit = unit or (next(iter(cell_units)) if len(cell_units) == 1 else "")
    answered = answers.get("temperature_unit", "")
    unit = unit or (answered if answered in ("C", "F") else "")
    if not unit and unit_sample is not None:
        value = parse_number(unit_sample.text)
        shown = value[0] if value else unit_sample.text
        choices = {"C": f"{shown} °C", "F": f"{shown} °F"}
        if value:
            choices["F"] += f" ({to_celsius(value[0], 'F')} °C)"
        result.questions.append(
            Question(
                key="temperature_unit",
                prompt="The file does not say whether its temperatures are in °C or °F. Which is it?",
                line=unit_sample.line,
                text=unit_sample.text,
                choices=choices,
            )
        )
    result.temperature_unit = unit
    result.readings = data_lines
    if not result.questions:
        order, notes = result.date_format, result.notes
        result.samples = lambda: _samples(fileobj, encoding, clock, order, unit, now, notes)
    return result


def _written(line: str) -> str:
    """The start of a line, to quote it in a reason."""
    text = line.strip()
    return text[:40] + ("…" if len(text) > 40 else "")


def _stamp_text(stamp: Stamp) -> str:
    return f"{stamp.a:02d}/{stamp.b:02d}/{stamp.year} {stamp.hour:02d}:{stamp.minute:02d}" + (
        f" {stamp.ampm.upper()}" if stamp.ampm else ""
    )


def timezone_text(when: dt.datetime) -> str:
    return f"{when:%d %b %Y %H:%M} UTC"


def _layout(walker: _Walker) -> str:
    text = " ".join([*walker.metadata.keys(), *walker.metadata.values(), *walker.preamble_text[:10]]).lower()
    for name, words in LAYOUTS:
        if any(w in text for w in words):
            return name
    if "serial #" in text and "reading interval" in text:
        return "logtag"
    return "generic"


def _samples(
    fileobj: BinaryIO,
    encoding: str,
    tz: dt.tzinfo,
    order: str,
    unit: str,
    now: dt.datetime,
    notes: list[str],
) -> Iterator[Sample | LineNote]:
    """The second pass: each reading with its instant and °C, in file order — or, for a line
    that cannot be read in the file's date order, unit and logger clock, the reason. Lines
    the first pass refused are not repeated here."""
    clock = ClockReader(tz)
    latest = now + FUTURE_SLACK
    low, high = PLAUSIBLE_C
    decimals = Decimal("0.01")
    dmy = order == "dmy"
    offset_at = clock.offset_at
    UTC = dt.UTC
    month = day = 0
    for event in _Walker().walk(_lines(fileobj, encoding)):
        if event.kind != "data":
            continue
        stamp = event.stamp
        assert stamp is not None
        if stamp.kind != order and not (stamp.kind == "num" and order in ("dmy", "mdy")):
            yield LineNote(event.line, "the date is not written like the file's other dates")
            continue
        # The hot path, for an hour with one offset: one constructor, one subtraction.
        offset: dt.timedelta | None = None
        if stamp.offset is None and not stamp.ampm:
            if stamp.kind != "num":
                month, day = stamp.a, stamp.b
            elif dmy:
                day, month = stamp.a, stamp.b
            else:
                month, day = stamp.a, stamp.b
            offset = offset_at(stamp.year, month, day, stamp.hour)
        if offset is not None:
            try:
                when = (
                    dt.datetime(stamp.year, month, day, stamp.hour, stamp.minute, stamp.second, tzinfo=UTC)
                    - offset
                )
            except (ValueError, OverflowError):
                yield LineNote(event.line, f"“{_written(event.raw)}” is not a date and time that exists")
                continue
            clock.last, clock.previous = clock.previous, when
        else:
            try:
                naive = stamp.datetime(order)
                aware = naive.astimezone(UTC) if naive.tzinfo is not None else None
            except (ValueError, OverflowError):
                yield LineNote(event.line, f"“{_written(event.raw)}” is not a date and time that exists")
                continue
            if aware is not None:
                when = aware
                clock.last, clock.previous = clock.previous, when
            else:
                read = clock.read(naive)
                if isinstance(read, str):
                    yield LineNote(event.line, read)
                    continue
                when = read
        if when < EARLIEST:
            yield LineNote(
                event.line, f"{when:%d %b %Y} is before the year 2000: the logger's clock was not set"
            )
            continue
        if when > latest:
            yield LineNote(
                event.line, f"{timezone_text(when)} is in the future: check the logger's clock and zone"
            )
            continue
        text = event.text
        value = Decimal(text.replace(",", ".")) if PLAIN_NUMBER.fullmatch(text) else None
        line_unit = unit
        if value is None:
            parsed = parse_number(text)
            if parsed is None:
                yield LineNote(event.line, f"“{text[:20] or 'nothing'}” is not a temperature")
                continue
            value, line_unit = parsed[0], parsed[1] or unit
        if line_unit == "F":
            value = (value - 32) * 5 / 9
        if not value.is_finite() or not low <= value <= high:
            yield LineNote(event.line, f"{text} °{line_unit} is not a plausible temperature")
            continue
        dot = text.find(".") if "," not in text else text.find(",")
        if line_unit == "F" or (dot != -1 and len(text) - dot > 3) or not text[-1:].isdigit():
            value = value.quantize(decimals, rounding=ROUND_HALF_EVEN)
        yield Sample(event.line, when, value)
    notes[:] = clock.notes

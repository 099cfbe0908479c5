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


@dataclass(frozen=True)
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
    skipped: dict[str, list[int]] = field(default_factory=dict)  # reason -> line numbers
    refused: list[LineNote] = field(default_factory=list)
    refused_count: int = 0
    questions: list[Question] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)  # the preamble's device details
    interval: dt.timedelta | None = None  # stated in the preamble
    readings: int = 0  # lines holding a reading
    notes: list[str] = field(default_factory=list)  # how clock changes were read
    samples: Callable[[], Iterator[Sample]] = field(default=lambda: iter(()), repr=False)

    @property
    def ok(self) -> bool:
        return not self.refused_count and not self.questions

    @property
    def skipped_count(self) -> int:
        return sum(len(v) for v in self.skipped.values())


# --- Limits -------------------------------------------------------------------------------------

MAX_LINE = 1000  # characters: a logger line is a few dozen; anything longer is not a reading
MAX_NOTES = 100  # refused lines kept with their reasons (all are counted)
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
NUMBER = re.compile(r"^\s*([+-−]?\d+(?:[.,]\d+)?)\s*(°?\s*[CcFf])?\s*$")

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


@dataclass(frozen=True)
class Stamp:
    """A timestamp cut into its parts, before the date order is known."""

    kind: str  # "ymd", "num" (day and month order unknown) or "named"
    a: int
    b: int
    year: int
    hour: int
    minute: int
    second: int
    ampm: str  # "", "am" or "pm"
    offset: dt.tzinfo | None

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
    return dt.timezone(sign * dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))


def _year(text: str) -> int:
    year = int(text)
    return year + 2000 if len(text) == 2 else year


def parse_stamp(text: str, time_text: str | None = None) -> Stamp | None:
    """Cut "31/03/2026 14:05", "2026-03-31T14:05:00Z", "Mar 31, 2026 2:05 PM" (and a separate
    time cell) into parts; None when it is not a timestamp."""
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
    time_parts = (int(g["H"]), int(g["M"]), int(g["S"] or 0), ampm, _offset(g["tz"]))
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
    previous reading, so a log in either order reads right; a local time that does not exist
    (the night they go forward) is refused: the logger's clock is not what the unit says.
    """

    def __init__(self, tz: dt.tzinfo):
        self.tz = tz
        self.previous: dt.datetime | None = None
        self.notes: list[str] = []
        self._hours: dict[tuple[int, int, int, int], dt.timedelta | None] = {}

    def _uniform_offset(self, naive: dt.datetime) -> dt.timedelta | None:
        """The zone's offset throughout this wall-clock hour, or None when it changes in it."""
        key = (naive.year, naive.month, naive.day, naive.hour)
        if key not in self._hours:
            start = naive.replace(minute=0, second=0, microsecond=0)
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
        offset = self._uniform_offset(naive)
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
                # The nearer the previous reading (not the same instant again); a tie goes forward.
                candidates = [c for c in (a, b) if c != self.previous] or [a]
                when = min(candidates, key=lambda c: (abs(c - self.previous), c < self.previous))
        self.previous = when
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
    wrapper = io.TextIOWrapper(fileobj, encoding=encoding, newline=None)  # type: ignore[type-var]
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
    ("elitech", ("elitech",)),
)


@dataclass
class _Event:
    kind: str  # "skip", "refuse", "data"
    line: int
    reason: str = ""
    stamp: Stamp | None = None
    value: Decimal | None = None
    unit: str = ""


class _Walker:
    """Walks a file's lines once: preamble, header, then one event per line."""

    def __init__(self) -> None:
        self.columns: Columns | None = None
        self.metadata: dict[str, str] = {}
        self.preamble_text: list[str] = []
        self.header_line: int | None = None
        self.layout = "generic"

    def walk(self, lines: Iterator[str]) -> Iterator[_Event]:
        berlinger = False
        section = ""
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
                    self.columns, self.header_line = header, number
                    yield _Event("skip", number, "header")
                    continue
                data = _data_columns(line)
                if data is None:
                    entry = _preamble_entry(line)
                    if entry and entry[0] not in self.metadata:
                        self.metadata[entry[0]] = entry[1][:200]
                    if len(self.preamble_text) < 200:
                        self.preamble_text.append(line[:200])
                    yield _Event("skip", number, "preamble")
                    continue
                self.columns = data
            yield self._data(number, line, self.columns)

    def _data(self, number: int, line: str, cols: Columns) -> _Event:
        cells = _split(line, cols.delimiter)
        if cols.header is not None and [c.strip().strip('"').strip() for c in cells] == cols.header:
            return _Event("skip", number, "header")
        needed = max(cols.date, cols.time or 0, cols.temperature)
        if len(cells) <= needed:
            return _Event("refuse", number, "expected a time and a temperature on this line")
        raw_time = cells[cols.time].strip() if cols.time is not None else None
        stamp = parse_stamp(cells[cols.date], raw_time)
        if stamp is None:
            shown = cells[cols.date].strip() + (f" {raw_time}" if raw_time else "")
            return _Event("refuse", number, f"“{shown[:40]}” is not a date and time")
        raw = cells[cols.temperature].strip()
        if raw.lower() in NO_READING:
            return _Event("skip", number, f"no reading (the logger wrote “{raw}”)")
        number_unit = parse_number(raw)
        if number_unit is None:
            shown = raw[:20] or "nothing"
            return _Event("refuse", number, f"“{shown}” is not a temperature")
        value, unit = number_unit
        return _Event("data", number, stamp=stamp, value=value, unit=unit)


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


@dataclass
class _Order:
    """One way of reading the file's dates, tried on every line during the first pass."""

    key: str
    clock: ClockReader
    refused: list[LineNote] = field(default_factory=list)
    bad: int = 0

    def refuse(self, line: int, reason: str) -> None:
        self.bad += 1
        if len(self.refused) < MAX_NOTES:
            self.refused.append(LineNote(line, reason))


def _instant(stamp: Stamp, order: _Order | None, key: str, clock: ClockReader) -> dt.datetime | str:
    try:
        when = stamp.datetime(key)
    except ValueError:
        return "is not a date and time that exists"
    if when.tzinfo is not None:
        clock.previous = when.astimezone(dt.UTC)
        return clock.previous
    return clock.read(when)


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
        result.refused_count = 1
        return result
    encoding = detect_encoding(head)
    try:
        return _analyse(fileobj, encoding, clock, answers, now)
    except UnicodeDecodeError:
        if encoding != "utf-8":
            result = LoggerFile()
            result.refused.append(LineNote(0, f"the file is not readable as {encoding} text"))
            result.refused_count = 1
            return result
        return _analyse(fileobj, "latin-1", clock, answers, now)


def _analyse(
    fileobj: BinaryIO, encoding: str, clock: dt.tzinfo, answers: dict[str, str], now: dt.datetime
) -> LoggerFile:
    result = LoggerFile(encoding=encoding)
    walker = _Walker()
    latest = now + FUTURE_SLACK
    orders = {key: _Order(key, ClockReader(clock)) for key in DATE_ORDERS}
    if answers.get("date_format") in ("dmy", "mdy"):
        orders.pop("mdy" if answers["date_format"] == "dmy" else "dmy")
    common: list[LineNote] = []
    common_count = 0
    unit = ""
    cell_units: set[str] = set()
    data_lines = 0
    telling: tuple[int, str, Stamp] | None = None  # a line whose date reads differently dmy/mdy
    sample_value: tuple[int, str, Decimal] | None = None
    first_fits: tuple[str, ...] | None = None
    for event in walker.walk(_lines(fileobj, encoding)):
        result.lines = event.line
        if event.kind == "skip":
            result.skipped.setdefault(event.reason, []).append(event.line)
            continue
        if event.kind == "refuse":
            common_count += 1
            if len(common) < MAX_NOTES:
                common.append(LineNote(event.line, event.reason))
            continue
        data_lines += 1
        if data_lines == 1:
            assert walker.columns is not None
            unit = answers.get("temperature_unit") or walker.columns.unit
            unit = unit or _metadata_unit(walker.metadata, walker.preamble_text)
        stamp, value = event.stamp, event.value
        assert stamp is not None and value is not None
        if event.unit:
            cell_units.add(event.unit)
        line_unit = event.unit or unit
        if line_unit:
            celsius = to_celsius(value, line_unit)
            if not PLAUSIBLE_C[0] <= celsius <= PLAUSIBLE_C[1]:
                shown = f"{value} °{line_unit}"
                common_count += 1
                if len(common) < MAX_NOTES:
                    common.append(LineNote(event.line, f"{shown} is not a plausible temperature"))
                continue
        elif sample_value is None:
            sample_value = (event.line, str(value), value)
        fits = stamp.orders()
        if first_fits is None:
            first_fits = fits
        if telling is None and stamp.kind == "num" and len(fits) == 2 and stamp.a != stamp.b:
            telling = (event.line, "", stamp)
        for key, order in orders.items():
            if key not in fits:
                order.refuse(event.line, "the date is not written like the file's other dates")
                continue
            when = _instant(stamp, None, key, order.clock)
            if isinstance(when, str):
                order.refuse(event.line, when)
            elif when < EARLIEST:
                order.refuse(
                    event.line, f"{when:%d %b %Y} is before the year 2000: the logger's clock was not set"
                )
            elif when > latest:
                order.refuse(
                    event.line,
                    f"{timezone_text(when)} is in the future: check the logger's clock and time zone",
                )
    result.layout = walker.layout if walker.layout != "generic" else _layout(walker)
    result.metadata = walker.metadata
    result.interval = _metadata_interval(walker.metadata)
    result.header_line = walker.header_line
    if walker.columns is not None:
        result.delimiter = walker.columns.delimiter
    if data_lines == 0 and not common_count:
        common.append(
            LineNote(
                0,
                "no line reads as a reading: a logger export needs a date-and-time column and a "
                "temperature column",
            )
        )
        common_count = 1
    # The date order: the one every line fits; two that fit equally are asked, never guessed.
    # A tie between orders with bad lines goes to the orders the first reading fits.
    best = min(orders.values(), key=lambda o: (o.bad, o.key not in (first_fits or ()))) if orders else None
    tied = [
        o
        for o in orders.values()
        if best is not None
        and o.bad == best.bad
        and (o.key in (first_fits or ())) == (best.key in (first_fits or ()))
    ]
    if best is not None and len(tied) > 1:
        keys = {o.key for o in tied}
        if keys == {"dmy", "mdy"} and telling is not None:
            line, _, stamp = telling
            result.questions.append(
                Question(
                    key="date_format",
                    prompt="Which way round does this logger write its dates?",
                    line=line,
                    text=_stamp_text(stamp),
                    choices={
                        key: _describe(stamp.datetime(key).replace(tzinfo=None)) for key in ("dmy", "mdy")
                    },
                )
            )
        elif keys == {"dmy", "mdy"}:
            best = orders["dmy"]  # every day equals its month: both readings are the same
    unit = unit or ("" if len(cell_units) != 1 else cell_units.pop())
    if data_lines and not unit and sample_value is not None:
        line, text, value = sample_value
        result.questions.append(
            Question(
                key="temperature_unit",
                prompt="The file does not say whether its temperatures are in °C or °F. Which is it?",
                line=line,
                text=text,
                choices={"C": f"{value} °C", "F": f"{value} °F ({to_celsius(value, 'F')} °C)"},
            )
        )
    result.temperature_unit = unit
    refused = common + (best.refused if best is not None and data_lines else [])
    result.refused = sorted(refused, key=lambda n: n.line)[:MAX_NOTES]
    result.refused_count = common_count + (best.bad if best is not None and data_lines else 0)
    if best is not None:
        result.date_format = best.key
        result.notes = best.clock.notes
    result.readings = result.lines - result.skipped_count - result.refused_count if result.lines else 0
    if result.ok and best is not None:
        result.samples = lambda: _samples(fileobj, encoding, clock, best.key, unit)
    return result


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


def _samples(fileobj: BinaryIO, encoding: str, tz: dt.tzinfo, order: str, unit: str) -> Iterator[Sample]:
    """The second pass: the readings, in file order, with their instants."""
    clock = ClockReader(tz)
    for event in _Walker().walk(_lines(fileobj, encoding)):
        if event.kind != "data":
            continue
        assert event.stamp is not None and event.value is not None
        when = _instant(event.stamp, None, order, clock)
        assert not isinstance(when, str)
        yield Sample(event.line, when, to_celsius(event.value, event.unit or unit))

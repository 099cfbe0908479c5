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

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal


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
    samples: Callable[[], Iterator[Sample]] = field(default=lambda: iter(()), repr=False)

    @property
    def ok(self) -> bool:
        return not self.refused_count and not self.questions

    @property
    def skipped_count(self) -> int:
        return sum(len(v) for v in self.skipped.values())

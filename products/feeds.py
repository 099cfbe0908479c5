"""What networked loggers push: a JSON batch read into a ``LoggerFile``, the limits, the rates.

A JSON batch becomes the same ``LoggerFile`` a CSV export does, so both go through one import
service with one set of rules (idempotent on (unit, time), the excursion logic). Each reading's
position in the array, counting from 1, stands for its line. Nothing here writes the database;
the rate counters live in Django's cache (``RATE_CACHE``).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import re
import time
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.cache import caches
from django.utils import timezone

from products.loggerfiles import EARLIEST, FUTURE_SLACK, MAX_NOTES, PLAUSIBLE_C, LineNote, LoggerFile, Sample

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 1_000_000  # 1 MB: a month of five-minute readings as JSON is about 600 kB
MAX_READINGS = 10_000
# The file importer's bounds (products.loggerfiles): a logger's clock a little ahead is not an
# error; one that was reset writes 1970 or 2000-01-01; refusals are listed up to MAX_NOTES.
EARLIEST_YEAR = EARLIEST.year
TEMPERATURE_KEYS = ("temperature_c", "temperature_f")
_NUMBER = re.compile(r"^\s*[-+]?\d+(\.\d+)?\s*$")


class FeedBodyError(Exception):
    """The body as a whole cannot be read: answered with ``status`` and the message."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


# --- JSON batches ---------------------------------------------------------------------------


def parse_json_batch(
    body: bytes, *, tzinfo: dt.tzinfo | None = None, now: dt.datetime | None = None
) -> LoggerFile:
    """``{"readings": [{"taken_at": ISO 8601, "temperature_c" | "temperature_f": number}, ...]}``
    read into a ``LoggerFile``. Raises ``FeedBodyError`` when the body is no such object (413
    past ``MAX_READINGS``); a reading that cannot be read is a refused line, with its reason.

    A time with an offset is exact; one without stays naive, for the import to read in the
    unit's logger clock. ``tzinfo`` (that clock) is only used to tell whether a naive time lies
    in the future. Unknown keys are ignored, so gateways may send more than we read.
    """
    now = now or timezone.now()
    tzinfo = tzinfo or timezone.get_current_timezone()
    try:
        document = json.loads(body, parse_float=Decimal)
    except RecursionError:
        raise FeedBodyError("The JSON is nested too deeply.") from None
    except ValueError as exc:  # JSONDecodeError, bad UTF-8, an integer of 5 000 digits
        raise FeedBodyError(f"The body is not valid JSON: {exc}.") from None
    if not isinstance(document, dict) or "readings" not in document:
        raise FeedBodyError('The body must be a JSON object with a "readings" array.')
    readings = document["readings"]
    if not isinstance(readings, list):
        raise FeedBodyError('"readings" must be an array of readings.')
    if not readings:
        raise FeedBodyError("The batch holds no readings.")
    if len(readings) > MAX_READINGS:
        raise FeedBodyError(
            f"The batch holds {len(readings)} readings; send at most {MAX_READINGS} at a time.", status=413
        )

    samples: list[Sample] = []
    refused: list[LineNote] = []
    refused_count = 0
    for line, item in enumerate(readings, start=1):
        sample_or_reason = _reading(line, item, tzinfo=tzinfo, now=now)
        if isinstance(sample_or_reason, Sample):
            samples.append(sample_or_reason)
        else:
            refused_count += 1
            if len(refused) < MAX_NOTES:
                refused.append(LineNote(line, sample_or_reason))
    return LoggerFile(
        lines=len(readings),
        layout="json",
        encoding="utf-8",
        temperature_unit="C",  # each reading says its unit; samples are all in °C
        date_format="iso8601",
        refused=refused,
        refused_count=refused_count,
        readings=len(samples),  # the rest are refused: lines = readings + refused
        samples=lambda: iter(samples),
    )


def _reading(line: int, item: Any, *, tzinfo: dt.tzinfo, now: dt.datetime) -> Sample | str:
    """One reading as a Sample, or the reason it cannot be read."""
    if not isinstance(item, dict):
        return "A reading must be an object with taken_at and temperature_c (or temperature_f)."
    when = _taken_at(item.get("taken_at"), tzinfo=tzinfo, now=now)
    if isinstance(when, str):
        return when
    celsius = _celsius(item)
    if isinstance(celsius, str):
        return celsius
    return Sample(line=line, when=when, celsius=celsius)


def _taken_at(raw: Any, *, tzinfo: dt.tzinfo, now: dt.datetime) -> dt.datetime | str:
    if raw is None:
        return "taken_at is missing."
    if not isinstance(raw, str):
        return "taken_at must be a string: an ISO 8601 date and time, e.g. 2026-03-28T01:05:00Z."
    text = raw.strip()
    shown = text[:40]
    # A date alone is no time of a reading (fromisoformat would read it as midnight).
    if "T" not in text.upper() and " " not in text:
        return f"taken_at “{shown}” has no time of day; give e.g. 2026-03-28T01:05:00Z."
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        return f"taken_at “{shown}” is not an ISO 8601 date and time, e.g. 2026-03-28T01:05:00Z."
    if when.year < EARLIEST_YEAR:
        return f"taken_at {shown} is before {EARLIEST_YEAR}: is the logger's clock set?"
    exact = when if when.tzinfo is not None else when.replace(tzinfo=tzinfo)
    try:
        ahead = exact > now + FUTURE_SLACK
    except OverflowError:  # 9999-12-31 at an offset: certainly the future
        ahead = True
    if ahead:
        return f"taken_at {shown} is more than 5 minutes in the future: is the logger's clock right?"
    return when


def _celsius(item: dict) -> Decimal | str:
    given = [key for key in TEMPERATURE_KEYS if key in item]
    if not given:
        return "temperature_c (or temperature_f) is missing."
    if len(given) > 1:
        return "Give temperature_c or temperature_f, not both."
    key = given[0]
    raw = item[key]
    if isinstance(raw, bool) or not isinstance(raw, int | Decimal | str):
        return f"{key} must be a number."
    if isinstance(raw, str) and not _NUMBER.match(raw):
        return f"{key} “{raw[:20]}” is not a number."
    try:
        value = Decimal(raw) if not isinstance(raw, Decimal) else raw
    except (InvalidOperation, ValueError):  # pragma: no cover - the pattern admits numbers only
        return f"{key} is not a number."
    if not value.is_finite():
        return f"{key} must be a number."
    if key == "temperature_f":
        value = (value - 32) * 5 / 9
    if not PLAUSIBLE_C[0] <= value <= PLAUSIBLE_C[1]:
        return (
            f"{item[key]} {'°F' if key == 'temperature_f' else '°C'} is not a plausible temperature "
            f"(between {PLAUSIBLE_C[0]} and {PLAUSIBLE_C[1]} °C)."
        )
    return value.quantize(Decimal("0.01"))


# --- Rates ----------------------------------------------------------------------------------

RATE_CACHE = "ratelimit"  # an alias of settings.CACHES: Redis when REDIS_URL is set, else locmem


@dataclass(frozen=True)
class Rate:
    """At most ``limit`` hits per fixed window of ``seconds``."""

    limit: int
    seconds: int


TOKEN_RATE = Rate(60, 60)  # batches per token per minute: a logger every few seconds still fits
BAD_TOKEN_RATE = Rate(20, 60)  # refused tokens per client address per minute


def _window(key: str, rate: Rate) -> tuple[str, float]:
    now = time.time()
    start = math.floor(now / rate.seconds) * rate.seconds
    return f"feed-rate:{key}:{start}", start + rate.seconds - now


def rate_wait(key: str, rate: Rate) -> int | None:
    """Count a hit on ``key``; the seconds to wait when it is over the window's limit, else None.

    A cache that does not answer (Redis down) lets the request through, logged: the readings
    of a fridge matter more than a rate limit.
    """
    cache_key, remaining = _window(key, rate)
    cache = caches[RATE_CACHE]
    try:
        cache.add(cache_key, 0, timeout=rate.seconds + 1)
        try:
            hits = cache.incr(cache_key)
        except ValueError:  # expired between add and incr
            cache.set(cache_key, 1, timeout=rate.seconds + 1)
            hits = 1
    except Exception:  # any cache backend's connection error; see the docstring
        logger.warning("Rate-limit cache unavailable; %s not limited", key, exc_info=True)
        return None
    return max(1, math.ceil(remaining)) if hits > rate.limit else None

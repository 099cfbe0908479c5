"""The injection map of a product line: points placed on face and scalp diagrams.

A point is stored as fractions of its diagram's ``viewBox`` (every view is drawn in the same
300 × 360 box), so it lands on the same spot whatever the size of the screen that placed it or
the page that shows it. The browser widget (``static/js/injection-map.js``) keeps the points as
JSON in a hidden field of the line form::

    [{"view": "face_front", "x": 0.4213, "y": 0.3312, "volume_ml": "0.02", "depth_mm": "1.0"}]

``parse_map_points`` reads that JSON back, refusing anything a tampered or broken post could
hold with a message the practitioner can act on; ``MapPointsField`` is the form field doing it.
The diagrams themselves are templates (``treatments/diagrams/<view>.svg.html``); naming the
region a point falls in is ``treatments.map_regions``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Protocol

from django import forms
from django.core.exceptions import ValidationError

from treatments.models import MapView

VIEWBOX_WIDTH = 300
VIEWBOX_HEIGHT = 360

MAX_POINTS = 400
MAX_VOLUME_ML = Decimal("5")
MAX_DEPTH_MM = Decimal("10")
VOLUME_PLACES = 3
DEPTH_PLACES = 2
POSITION_PLACES = 4
# Four hundred points take about 40 000 characters; anything much longer is not the widget's.
MAX_RAW_LENGTH = 200_000
# Errors listed one by one before the rest are summed up: a practitioner reads five, not 400.
MAX_LISTED_ERRORS = 5

FIELDS = frozenset({"view", "x", "y", "volume_ml", "depth_mm"})


MAP_VIEWS: dict[str, str] = {view.value: view.label for view in MapView}
# What the view switcher shows (short enough for four buttons in a row at 390 px); the
# rest of the label is read out to screen readers.
MAP_VIEW_SHORT: dict[str, tuple[str, str]] = {
    MapView.FACE_FRONT: ("Front", ""),
    MapView.FACE_LEFT: ("Left", " oblique"),
    MapView.FACE_RIGHT: ("Right", " oblique"),
    MapView.SCALP: ("Scalp", ""),
}


@dataclass(frozen=True)
class MapPoint:
    """One injection point: its diagram, where on it (fractions of the box, 4 decimals), the
    volume given there (mL, up to 3 decimals) and, if recorded, the depth (mm)."""

    view: str
    x: Decimal
    y: Decimal
    volume_ml: Decimal
    depth_mm: Decimal | None = None

    @property
    def view_label(self) -> str:
        return MAP_VIEWS[self.view]


class HasVolume(Protocol):
    @property
    def volume_ml(self) -> Decimal: ...


class PointLike(HasVolume, Protocol):
    """What the read-only rendering needs of a point: a ``MapPoint`` or a saved row."""

    @property
    def view(self) -> str: ...
    @property
    def x(self) -> Decimal: ...
    @property
    def y(self) -> Decimal: ...
    @property
    def depth_mm(self) -> Decimal | None: ...


# --- Reading the widget's JSON ------------------------------------------------------------

UNREADABLE = (
    "The injection map could not be read. Reload the page and place the points again, "
    "or enter the number of points and the volume per point instead."
)
_PLAIN_DECIMAL = re.compile(r"^(\d+(\.\d*)?|\.\d+)$")


class _PointError(Exception):
    """One point's problem, worded for the practitioner (turned into a ValidationError)."""


def _refuse_constant(name: str) -> Any:
    # json accepts NaN, Infinity and -Infinity unless told otherwise.
    raise ValueError(f"{name} is not a number")


def parse_map_points(raw: str | None) -> list[MapPoint]:
    """The points of the widget's JSON, in their order (point 1 first).

    An empty value is no points. Raises ``ValidationError`` (codes ``unreadable``,
    ``too_many`` or ``point``) listing what to correct."""
    text = (raw or "").strip()
    if not text:
        return []
    if len(text) > MAX_RAW_LENGTH:
        raise ValidationError(UNREADABLE, code="unreadable")
    try:
        # Decimals straight from the text: no float rounding, no overflow on huge numbers.
        data = json.loads(text, parse_float=Decimal, parse_int=Decimal, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        raise ValidationError(UNREADABLE, code="unreadable") from None
    if not isinstance(data, list):
        raise ValidationError(UNREADABLE, code="unreadable")
    if len(data) > MAX_POINTS:
        raise ValidationError(
            f"The map has {len(data)} points; at most {MAX_POINTS} can be recorded. Remove some, "
            "or record the line as a number of points and a volume per point instead.",
            code="too_many",
        )
    points: list[MapPoint] = []
    errors: list[str] = []
    for number, item in enumerate(data, start=1):
        try:
            points.append(_point(number, item))
        except _PointError as exc:
            errors.append(str(exc))
    if errors:
        listed = [ValidationError(message, code="point") for message in errors[:MAX_LISTED_ERRORS]]
        if len(errors) > MAX_LISTED_ERRORS:
            rest = len(errors) - MAX_LISTED_ERRORS
            listed.append(
                ValidationError(
                    f"…and {rest} more point{'s' if rest != 1 else ''} on the map need correcting.",
                    code="point",
                )
            )
        raise ValidationError(listed)
    return points


def _point(number: int, item: object) -> MapPoint:
    again = "remove it and place it again"
    if not isinstance(item, dict) or not set(item) <= FIELDS:
        raise _PointError(f"Point {number} on the map could not be read: {again}.")
    view = item.get("view")
    if not isinstance(view, str) or view not in MAP_VIEWS:
        raise _PointError(f"Point {number} is on a diagram this clinic does not know: {again}.")
    where = f"Point {number} ({MAP_VIEWS[view]})"
    x, y = item.get("x"), item.get("y")
    if not isinstance(x, Decimal) or not isinstance(y, Decimal):
        raise _PointError(f"{where} has no position on the diagram: {again}.")
    if not (0 <= x <= 1 and 0 <= y <= 1):
        raise _PointError(f"{where} is outside the diagram: drag it back onto it, or remove it.")
    try:
        volume = _decimal(item.get("volume_ml"))
    except _NotANumber as exc:
        raise _PointError(f"{where}: {exc.shown} is not a volume; enter it in mL, e.g. 0.02.") from None
    if volume is None:
        raise _PointError(f"{where} has no volume: enter its volume in mL.")
    if volume <= 0:
        raise _PointError(f"{where}: the volume must be more than 0 mL.")
    if volume > MAX_VOLUME_ML:
        raise _PointError(
            f"{where}: {_amount(volume, 'mL')} is more than the {MAX_VOLUME_ML} mL one point can take; "
            "check the volume."
        )
    if decimal_places(volume) > VOLUME_PLACES:
        raise _PointError(f"{where}: give the volume to at most {VOLUME_PLACES} decimals (e.g. 0.025 mL).")
    try:
        depth = _decimal(item.get("depth_mm"))
    except _NotANumber as exc:
        raise _PointError(
            f"{where}: {exc.shown} is not a depth; enter it in mm, e.g. 1.5, or leave it empty."
        ) from None
    if depth is not None:
        if depth <= 0:
            raise _PointError(f"{where}: the depth must be more than 0 mm (or leave it empty).")
        if depth > MAX_DEPTH_MM:
            raise _PointError(
                f"{where}: {_amount(depth, 'mm')} is deeper than {MAX_DEPTH_MM} mm; check the depth."
            )
        if decimal_places(depth) > DEPTH_PLACES:
            raise _PointError(f"{where}: give the depth to at most {DEPTH_PLACES} decimals (e.g. 1.25 mm).")
    return MapPoint(
        view=view,
        # abs(): "-0" is a fraction of 0, but would be written "-0.0000".
        x=_places(abs(x), POSITION_PLACES),
        y=_places(abs(y), POSITION_PLACES),
        volume_ml=_places(volume, VOLUME_PLACES),
        depth_mm=_places(depth, DEPTH_PLACES) if depth is not None else None,
    )


class _NotANumber(Exception):
    def __init__(self, value: object) -> None:
        super().__init__()
        # What the practitioner typed, quoted and cut short; other JSON (true, lists) unnamed.
        self.shown = f"“{value.strip()[:20]}”" if isinstance(value, str) else "the value given"


def _decimal(value: object) -> Decimal | None:
    """A finite decimal from a JSON number or a plain decimal string ("0.02", ".5"; no
    exponents, no "NaN"); None when empty. Raises ``_NotANumber`` for anything else."""
    if value is None or value == "":
        return None
    if isinstance(value, Decimal) and value.is_finite():
        return value
    if isinstance(value, str):
        text = value.strip()
        if len(text) <= 20 and _PLAIN_DECIMAL.match(text):
            return Decimal(text)
    raise _NotANumber(value)


def decimal_places(value: Decimal) -> int:
    """The decimals that matter, exactly (0.020 has 2), without the context's rounding."""
    _, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)  # finite by now
    if exponent >= 0 or not any(digits):
        return 0
    places = -exponent
    for digit in reversed(digits):
        if digit != 0 or places == 0:
            break
        places -= 1
    return places


def _places(value: Decimal, places: int) -> Decimal:
    # Only called on values already known to be small, so quantize cannot overflow.
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def _plain(value: Decimal) -> str:
    return f"{value:f}"


def _amount(value: Decimal, unit: str) -> str:
    """The amount ("7 mL") for a message; a number of absurd size (1e999999999) is not written out."""
    if value.adjusted() < 6 and decimal_places(value) <= 6:
        return f"{_plain(value)} {unit}"
    return "the value given"


# --- Summaries, display, writing back ---------------------------------------------------


def map_summary(points: Iterable[HasVolume]) -> tuple[int, Decimal, Decimal | None]:
    """(number of points, total volume in mL, the volume every point shares or None)."""
    count, total = 0, Decimal(0)
    volumes: set[Decimal] = set()
    for point in points:
        count += 1
        total += point.volume_ml
        volumes.add(point.volume_ml)
    common = next(iter(volumes)) if len(volumes) == 1 else None
    return count, total, common


def format_ml(value: Decimal | None) -> str:
    """0.06 → "0.06", 0.075 → "0.075", 1 → "1.00": two decimals, three when they matter."""
    if value is None:
        return ""
    quantized = _places(value, VOLUME_PLACES)
    return f"{quantized:f}" if decimal_places(quantized) > 2 else f"{_places(value, 2):f}"


def format_mm(value: Decimal | None) -> str:
    """1 → "1.0", 1.25 → "1.25"."""
    if value is None:
        return ""
    quantized = _places(value, DEPTH_PLACES)
    return f"{quantized:f}" if decimal_places(quantized) > 1 else f"{_places(value, 1):f}"


def points_to_json(points: Sequence[PointLike]) -> str:
    """The widget's JSON for saved points (to fill the hidden field when editing a line)."""
    return json.dumps(
        [
            {
                "view": p.view,
                "x": float(p.x),
                "y": float(p.y),
                "volume_ml": _plain(Decimal(p.volume_ml).normalize()) if p.volume_ml is not None else "",
                "depth_mm": format_mm(Decimal(p.depth_mm)) if p.depth_mm is not None else None,
            }
            for p in points
        ],
        separators=(",", ":"),
    )


class MapPointsField(forms.CharField):
    """The hidden field the widget writes: cleans to a list of ``MapPoint`` (empty: ``[]``)."""

    widget = forms.HiddenInput

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("label", "Injection map")
        super().__init__(**kwargs)

    def to_python(self, value: Any) -> list[MapPoint]:  # type: ignore[override]
        if isinstance(value, list):
            return value
        return parse_map_points(super().to_python(value))

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, (list, tuple)):
            return points_to_json(value)
        return value

    def has_changed(self, initial: Any, data: Any) -> bool:
        try:
            before = self.to_python(self.prepare_value(initial) if initial is not None else "")
            after = self.to_python(data)
        except ValidationError:
            return True
        return before != after

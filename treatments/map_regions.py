"""Which named region of a diagram a point falls in, on the server (no browser).

The diagrams (``treatments/diagrams/<view>.svg.html``) are the one source of the regions: the
browser widget asks the SVG itself (``isPointInFill``), and this module reads the same shapes
from the rendered template, so the signed record names a point's region as the widget did.
Region shapes are limited to what is read here: ``path`` (M, L, H, V, C, Q, Z, absolute or
relative), ``polygon``, ``rect``, ``circle`` and ``ellipse``, under ``matrix``, ``translate``
and ``scale`` transforms; anything else raises ``DiagramError`` (the tests render every view).
Overlapping regions are decided as on screen: the one drawn last (on top) wins.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from functools import cache

from django.template.loader import render_to_string

from treatments.injection_map import MAP_VIEWS, VIEWBOX_HEIGHT, VIEWBOX_WIDTH

SVG_NS = "{http://www.w3.org/2000/svg}"
OUTSIDE = "outside the marked regions"
# Straight segments per curve and per ellipse: far finer than a fingertip on the diagram.
CURVE_STEPS = 16
ELLIPSE_STEPS = 72

Point = tuple[float, float]
# An affine transform (a, b, c, d, e, f) as in SVG's matrix(): x' = a x + c y + e, y' = b x + d y + f.
Matrix = tuple[float, float, float, float, float, float]
IDENTITY: Matrix = (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)


class DiagramError(ValueError):
    """A diagram uses a shape or transform this module cannot read."""


@dataclass(frozen=True)
class Region:
    """A named region of one view: its label ("left cheek"), the area key it belongs to
    ("face") and its outline in viewBox units (one polygon per subpath)."""

    label: str
    area: str
    outlines: tuple[tuple[Point, ...], ...]

    def contains(self, x: float, y: float) -> bool:
        # Even-odd over every subpath: the regions are simple shapes, so it agrees with nonzero.
        inside = False
        for outline in self.outlines:
            inside ^= _in_polygon(outline, x, y)
        return inside


def diagram_template(view: str) -> str:
    if view not in MAP_VIEWS:
        raise DiagramError(f"Unknown view {view!r}.")
    return f"treatments/diagrams/{view}.svg.html"


@cache
def regions(view: str) -> tuple[Region, ...]:
    """The named regions of a view, in drawing order (cached: the templates do not change)."""
    return read_regions(render_to_string(diagram_template(view)))


def read_regions(markup: str) -> tuple[Region, ...]:
    """The named regions (``data-region``) of the inside of an ``<svg>``, in drawing order."""
    # Our own templates, not user input: nothing here for an XML attack to ride on.
    root = ET.fromstring(f'<svg xmlns="http://www.w3.org/2000/svg">{markup}</svg>')  # noqa: S314
    found: list[Region] = []
    _walk(root, IDENTITY, found)
    return tuple(found)


def region_at(view: str, x: Decimal | float, y: Decimal | float) -> Region | None:
    """The topmost region under the point at fractions (x, y) of the view, or None."""
    px, py = float(x) * VIEWBOX_WIDTH, float(y) * VIEWBOX_HEIGHT
    for region in reversed(regions(view)):
        if region.contains(px, py):
            return region
    return None


def region_label(view: str, x: Decimal | float, y: Decimal | float) -> str:
    region = region_at(view, x, y)
    return region.label if region else OUTSIDE


# --- Reading the SVG ------------------------------------------------------------------------


def _walk(element: ET.Element, matrix: Matrix, found: list[Region]) -> None:
    matrix = _multiply(matrix, _transform(element.get("transform", "")))
    label = element.get("data-region")
    if label is not None:
        outlines = tuple(tuple(_apply(matrix, p) for p in outline) for outline in _outlines(element))
        found.append(Region(label=label, area=element.get("data-area", ""), outlines=outlines))
    for child in element:
        _walk(child, matrix, found)


def _outlines(element: ET.Element) -> list[list[Point]]:
    tag = element.tag.removeprefix(SVG_NS)
    number = _number_of(element)
    if tag == "path":
        return _path(element.get("d", ""))
    if tag == "polygon":
        values = _numbers(element.get("points", ""))
        return [list(zip(values[0::2], values[1::2], strict=False))]
    if tag == "rect":
        x, y, w, h = (number(name) for name in ("x", "y", "width", "height"))
        return [[(x, y), (x + w, y), (x + w, y + h), (x, y + h)]]
    if tag in ("circle", "ellipse"):
        cx, cy = number("cx"), number("cy")
        rx = number("r") if tag == "circle" else number("rx")
        ry = number("r") if tag == "circle" else number("ry")
        return [
            [
                (
                    cx + rx * math.cos(2 * math.pi * i / ELLIPSE_STEPS),
                    cy + ry * math.sin(2 * math.pi * i / ELLIPSE_STEPS),
                )
                for i in range(ELLIPSE_STEPS)
            ]
        ]
    raise DiagramError(f"A region cannot be a <{tag}>: use a path, polygon, rect, circle or ellipse.")


def _number_of(element: ET.Element) -> Callable[[str], float]:
    def number(name: str) -> float:
        return float(element.get(name, "0"))

    return number


_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_TOKEN = re.compile(rf"[A-Za-z]|{_NUMBER}")


def _numbers(text: str) -> list[float]:
    return [float(n) for n in re.findall(_NUMBER, text)]


_ARITY = {"M": 2, "L": 2, "H": 1, "V": 1, "C": 6, "Q": 4, "Z": 0}


def _path(d: str) -> list[list[Point]]:
    """The subpaths of a path, curves flattened into short straight segments."""
    tokens = _TOKEN.findall(d)
    outlines: list[list[Point]] = []
    current: list[Point] = []
    x = y = 0.0
    start = (0.0, 0.0)
    i = 0
    command = ""
    while i < len(tokens):
        if tokens[i].isalpha():
            command = tokens[i]
            i += 1
            if command.upper() not in _ARITY:
                raise DiagramError(f"Path command {command!r} is not read here; use M L H V C Q Z.")
            if command.upper() == "Z":
                if current:
                    outlines.append(current)
                current = []
                x, y = start
                continue
        elif not command:
            raise DiagramError(f"A path must start with a command: {d[:30]!r}.")
        arity = _ARITY[command.upper()]
        args = [float(t) for t in tokens[i : i + arity]]
        if len(args) < arity:
            raise DiagramError(f"Path command {command!r} needs {arity} numbers: {d[:30]!r}.")
        i += arity
        relative = command.islower()
        upper = command.upper()
        if upper in ("M", "L"):
            nx, ny = (x + args[0], y + args[1]) if relative else (args[0], args[1])
            if upper == "M":
                if current:
                    outlines.append(current)
                current = [(nx, ny)]
                start = (nx, ny)
                # Numbers after a moveto are linetos (SVG's rule).
                command = "l" if relative else "L"
            else:
                current.append((nx, ny))
            x, y = nx, ny
        elif upper == "H":
            x = x + args[0] if relative else args[0]
            current.append((x, y))
        elif upper == "V":
            y = y + args[0] if relative else args[0]
            current.append((x, y))
        else:
            ox, oy = (x, y) if relative else (0.0, 0.0)
            pts = [(ox + args[k], oy + args[k + 1]) for k in range(0, arity, 2)]
            current.extend(_curve((x, y), pts))
            x, y = pts[-1]
    if current:
        outlines.append(current)
    return outlines


def _curve(p0: Point, controls: list[Point]) -> list[Point]:
    """Points along a quadratic (two controls) or cubic (three) Bézier from p0, its end last."""
    nodes = [p0, *controls]
    degree = len(controls)
    out = []
    for step in range(1, CURVE_STEPS + 1):
        t = step / CURVE_STEPS
        # Bernstein weights: (1-t)^(n-k) t^k times n choose k.
        weights = [math.comb(degree, k) * (1 - t) ** (degree - k) * t**k for k in range(degree + 1)]
        out.append(
            (
                sum(w * node[0] for w, node in zip(weights, nodes, strict=True)),
                sum(w * node[1] for w, node in zip(weights, nodes, strict=True)),
            )
        )
    return out


_TRANSFORM = re.compile(r"(matrix|translate|scale|rotate|skewX|skewY)\s*\(([^)]*)\)")


def _transform(text: str) -> Matrix:
    matrix = IDENTITY
    for name, args in _TRANSFORM.findall(text):
        n = _numbers(args)
        if name == "matrix" and len(n) == 6:
            step: Matrix = (n[0], n[1], n[2], n[3], n[4], n[5])
        elif name == "translate" and n:
            step = (1, 0, 0, 1, n[0], n[1] if len(n) > 1 else 0)
        elif name == "scale" and n:
            step = (n[0], 0, 0, n[1] if len(n) > 1 else n[0], 0, 0)
        else:
            raise DiagramError(f"Transform {name}({args}) is not read here; use matrix, translate or scale.")
        matrix = _multiply(matrix, step)
    if _TRANSFORM.sub("", text).strip(" ,"):
        raise DiagramError(f"Transform {text!r} could not be read.")
    return matrix


def _multiply(m: Matrix, n: Matrix) -> Matrix:
    """m then n applied inside it (SVG's order: the outer transform is on the left)."""
    a, b, c, d, e, f = m
    a2, b2, c2, d2, e2, f2 = n
    return (
        a * a2 + c * b2,
        b * a2 + d * b2,
        a * c2 + c * d2,
        b * c2 + d * d2,
        a * e2 + c * f2 + e,
        b * e2 + d * f2 + f,
    )


def _apply(m: Matrix, p: Point) -> Point:
    a, b, c, d, e, f = m
    return (a * p[0] + c * p[1] + e, b * p[0] + d * p[1] + f)


def _in_polygon(outline: tuple[Point, ...], x: float, y: float) -> bool:
    inside = False
    j = len(outline) - 1
    for i in range(len(outline)):
        xi, yi = outline[i]
        xj, yj = outline[j]
        if (yi > y) != (yj > y) and x < (xj - xi) * (y - yi) / (yj - yi) + xi:
            inside = not inside
        j = i
    return inside

"""Template helpers of the treatments app: the injection map's diagrams and points."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation

from django import template

from treatments.injection_map import (
    MAP_VIEW_SHORT,
    MAP_VIEWS,
    VIEWBOX_HEIGHT,
    VIEWBOX_WIDTH,
    format_ml,
    format_mm,
    map_summary,
)
from treatments.map_regions import diagram_template, region_label

register = template.Library()


def _coordinate(fraction, size: int) -> str:
    try:
        value = Decimal(str(fraction)) * size
    except (InvalidOperation, ValueError, TypeError):
        return "0"
    if not value.is_finite():
        return "0"
    return f"{min(max(value, Decimal(0)), Decimal(size)).quantize(Decimal('0.01')):f}"


@register.filter
def map_x(fraction) -> str:
    """A point's x fraction as a viewBox x coordinate: 0.4213 → "126.39" (of 300)."""
    return _coordinate(fraction, VIEWBOX_WIDTH)


@register.filter
def map_y(fraction) -> str:
    """A point's y fraction as a viewBox y coordinate: 0.5 → "180.00" (of 360)."""
    return _coordinate(fraction, VIEWBOX_HEIGHT)


@register.simple_tag
def injection_map_diagrams() -> list[dict]:
    """Every view for the input widget: key, label, the switcher's short text, template."""
    return [
        {"key": key, "label": label, "short": MAP_VIEW_SHORT[key], "template": diagram_template(key)}
        for key, label in MAP_VIEWS.items()
    ]


@register.simple_tag
def injection_map_views(points: Iterable, id_prefix: str = "") -> list[dict]:
    """The views that have points, in the views' order, each with its points numbered and
    named by region, its count and total; for the read-only map. ``points`` are saved rows
    or ``MapPoint``s (their own ``number`` if they have one, else their place in the list)."""
    by_view: dict[str, list] = {key: [] for key in MAP_VIEWS}
    for place, point in enumerate(points or (), start=1):
        if point.view in by_view:
            by_view[point.view].append((getattr(point, "number", None) or place, point))
    prefix = id_prefix or f"map-{secrets.token_hex(4)}"
    views = []
    for key, numbered in by_view.items():
        if not numbered:
            continue
        count, total, _ = map_summary(point for _, point in numbered)
        views.append(
            {
                "key": key,
                "label": MAP_VIEWS[key],
                "template": diagram_template(key),
                "id": f"{prefix}-{key}",
                "count": count,
                "total": format_ml(total),
                "points": [
                    {
                        "number": number,
                        "x": point.x,
                        "y": point.y,
                        "volume": format_ml(point.volume_ml),
                        "depth": format_mm(point.depth_mm),
                        "region": region_label(key, point.x, point.y),
                    }
                    for number, point in sorted(numbered, key=lambda pair: pair[0])
                ],
            }
        )
    return views

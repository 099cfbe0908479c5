"""The diagrams of the injection map and its read-only rendering.

The SVG templates are the one source of the regions: the widget hit-tests them in the browser
and ``treatments.map_regions`` reads the same shapes here. These tests pin which side is which
(the front view shows the patient's left cheek on the viewer's right), that every area the
record knows is drawn, and that the read-only include puts each point where its fractions say.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
from django.template.loader import render_to_string

from treatments.injection_map import MAP_VIEWS, MapPoint, parse_map_points
from treatments.map_regions import (
    OUTSIDE,
    DiagramError,
    read_regions,
    region_at,
    region_label,
    regions,
)
from treatments.models import Area
from treatments.templatetags.treatments_tags import map_x, map_y

DIAGRAMS = Path(__file__).resolve().parents[2] / "treatments" / "templates" / "treatments" / "diagrams"
SVG = "{http://www.w3.org/2000/svg}"


def diagram(view: str) -> ET.Element:
    markup = render_to_string(f"treatments/diagrams/{view}.svg.html")
    return ET.fromstring(f'<svg xmlns="http://www.w3.org/2000/svg">{markup}</svg>')  # noqa: S314


def test_the_templates_have_no_inline_style_or_script():
    files = sorted(DIAGRAMS.glob("*.svg.html"))
    assert {f.name for f in files} >= {f"{view}.svg.html" for view in MAP_VIEWS}
    for path in files:
        text = path.read_text()
        assert "style=" not in text, path.name
        assert "<script" not in text, path.name
        assert " id=" not in text, f"{path.name}: ids would repeat when a page shows several maps"


@pytest.mark.parametrize(
    ("view", "areas"),
    [
        ("face_front", {"face", "periorbital", "neck", "decolletage"}),
        ("face_left", {"face", "periorbital", "neck", "decolletage"}),
        ("face_right", {"face", "periorbital", "neck", "decolletage"}),
        ("scalp", {"scalp", "face"}),
    ],
)
def test_each_view_draws_its_areas_each_with_its_label(view, areas):
    root = diagram(view)
    shapes = root.findall(f".//{SVG}g[@class='map-areas']/*")
    assert {s.get("data-area") for s in shapes} == areas
    for shape in shapes:
        assert shape.findtext(f"{SVG}title") == Area(shape.get("data-area")).label
    # The periorbital zone is drawn around each eye.
    if "periorbital" in areas:
        assert sum(s.get("data-area") == "periorbital" for s in shapes) == 2
    # "Add a point" starts on the main region of the view.
    assert [s.get("data-area") for s in shapes if s.get("data-main")] == [
        "scalp" if view == "scalp" else "face"
    ]


@pytest.mark.parametrize("view", list(MAP_VIEWS))
def test_every_named_region_belongs_to_a_known_area_and_has_a_title(view):
    root = diagram(view)
    named = root.findall(".//*[@data-region]")
    assert len(named) == len(regions(view)) >= 8
    for shape in named:
        assert shape.get("data-area") in Area.values
        assert shape.findtext(f"{SVG}title") == shape.get("data-region").capitalize()
        # Never shown: only for naming where a point is.
        assert "map-area" not in (shape.get("class") or "")


@pytest.mark.parametrize(
    ("view", "x", "y", "label"),
    [
        # Front: the patient faces the viewer, so their left is on the viewer's right.
        ("face_front", 190, 150, "left cheek"),
        ("face_front", 110, 150, "right cheek"),
        ("face_front", 182, 115, "left periorbital"),
        ("face_front", 118, 115, "right periorbital"),
        ("face_front", 150, 75, "forehead"),
        ("face_front", 150, 104, "glabella"),
        ("face_front", 150, 140, "nose"),
        ("face_front", 150, 170, "upper lip"),
        ("face_front", 150, 186, "lips"),
        ("face_front", 150, 208, "chin"),
        ("face_front", 88, 160, "right jawline"),
        ("face_front", 222, 112, "left temple"),
        ("face_front", 150, 240, "neck"),
        ("face_front", 150, 320, "décolletage"),
        ("face_front", 10, 10, OUTSIDE),
        ("face_front", 150, 30, OUTSIDE),  # the hair
        ("face_front", 64, 128, OUTSIDE),  # the ear
        # Left oblique: the patient's left side towards the viewer, the nose to the left.
        ("face_left", 165, 150, "left cheek"),
        ("face_left", 170, 111, "left periorbital"),
        ("face_left", 116, 110, "right periorbital"),
        ("face_left", 90, 148, "nose"),
        ("face_left", 198, 110, "left temple"),
        ("face_left", 175, 225, "neck"),
        # Right oblique: the same drawing mirrored, its sides named the other way round.
        ("face_right", 135, 150, "right cheek"),
        ("face_right", 130, 111, "right periorbital"),
        ("face_right", 184, 110, "left periorbital"),
        ("face_right", 210, 148, "nose"),
        ("face_right", 102, 110, "right temple"),
        # Scalp from above: front at the top, the patient's left on the viewer's left.
        ("scalp", 150, 70, "forehead"),
        ("scalp", 150, 100, "frontal hairline"),
        ("scalp", 150, 150, "mid-scalp"),
        ("scalp", 150, 190, "vertex"),
        ("scalp", 150, 250, "crown"),
        ("scalp", 150, 305, "occipital"),
        ("scalp", 60, 190, "left temporal"),
        ("scalp", 240, 190, "right temporal"),
        ("scalp", 20, 340, OUTSIDE),
    ],
)
def test_a_point_is_named_by_the_region_it_falls_in(view, x, y, label):
    assert region_label(view, Decimal(x) / 300, Decimal(y) / 360) == label


def test_the_region_knows_its_area():
    region = region_at("face_front", 0.6, 0.32)
    assert region is not None
    assert (region.label, region.area) == ("left periorbital", "periorbital")
    assert region_at("face_front", 0.0, 0.0) is None


@pytest.mark.parametrize(
    ("markup", "problem"),
    [
        ('<path data-region="x" d="M0,0 A5,5 0 0 1 10,10 Z"/>', "Path command 'A'"),
        ('<path data-region="x" d="0,0 L10,10 Z"/>', "must start with a command"),
        ('<path data-region="x" d="M0,0 C1,1 2,2"/>', "needs 6 numbers"),
        ('<g transform="rotate(45)"><rect data-region="x" width="5" height="5"/></g>', "rotate"),
        ('<g transform="flip"><rect data-region="x" width="5" height="5"/></g>', "could not be read"),
        ('<text data-region="x">A</text>', "cannot be a <text>"),
    ],
)
def test_shapes_the_server_cannot_read_are_refused_loudly(markup, problem):
    with pytest.raises(DiagramError, match=re.escape(problem)):
        read_regions(markup)


def test_paths_polygons_rects_circles_and_transforms_are_read():
    found = read_regions(
        '<g transform="translate(100 0) scale(2)">'
        '<path data-region="p" data-area="face" d="m0,0 h10 v10 H0 z"/>'
        '<rect data-region="r" x="20" y="0" width="5" height="5"/>'
        '<circle data-region="c" cx="50" cy="50" r="5"/>'
        '<polygon data-region="q" points="0,40 10,40 5,30"/>'
        '<path data-region="curve" d="M0,60 Q10,50 20,60 C20,70 0,70 0,60 Z"/>'
        "</g>"
        '<g transform="matrix(-1 0 0 1 300 0)"><ellipse data-region="e" cx="10" cy="10" rx="5" ry="3"/></g>'
    )
    by_label = {r.label: r for r in found}
    assert by_label["p"].area == "face"
    assert by_label["p"].contains(105, 5) and not by_label["p"].contains(95, 5)
    assert by_label["r"].contains(145, 5)
    assert by_label["c"].contains(200, 100) and not by_label["c"].contains(200, 111)
    assert by_label["q"].contains(110, 75)
    assert by_label["curve"].contains(120, 122)
    assert by_label["e"].contains(290, 10) and not by_label["e"].contains(10, 10)


# --- The read-only include -------------------------------------------------------------------


@dataclass(frozen=True)
class SavedPoint:
    """What the form author's InjectionPoint rows look like to the template."""

    number: int
    view: str
    x: Decimal
    y: Decimal
    volume_ml: Decimal
    depth_mm: Decimal | None


def render(points) -> str:
    return render_to_string("treatments/includes/injection_map.html", {"points": points})


def figures(html: str) -> list[str]:
    """Each drawn view: its figure (diagram and caption) and its list of points."""
    return html.split('<div class="injection-map-view"')[1:]


def test_the_filters_turn_fractions_into_viewbox_coordinates():
    assert (map_x(Decimal("0.4213")), map_y(Decimal("0.3312"))) == ("126.39", "119.23")
    assert (map_x(1), map_y(0), map_x("0.5")) == ("300.00", "0.00", "150.00")
    assert (map_x(None), map_x("x"), map_y(Decimal("NaN"))) == ("0", "0", "0")
    assert map_y(7) == "360.00"  # clamped to the box


def test_only_views_with_points_are_drawn_with_dots_where_the_fractions_say():
    points = [
        SavedPoint(1, "face_front", Decimal("0.6333"), Decimal("0.4167"), Decimal("0.020"), Decimal("1.00")),
        SavedPoint(2, "face_front", Decimal("0.5"), Decimal("0.2083"), Decimal("0.025"), None),
        SavedPoint(3, "scalp", Decimal("0.5"), Decimal("0.5278"), Decimal("0.050"), Decimal("2.50")),
    ]
    html = render(points)
    drawn = figures(html)
    assert len(drawn) == 2
    front, scalp = drawn
    assert front.startswith(' data-view="face_front"') and scalp.startswith(' data-view="scalp"')
    assert "face_left" not in html and "face_right" not in html
    circles = re.findall(r'<circle cx="([\d.]+)" cy="([\d.]+)" r="6"/><text[^>]*>(\d+)</text>', front)
    assert circles == [("189.99", "150.01", "1"), ("150.00", "74.99", "2")]
    assert re.findall(r'<circle cx="([\d.]+)" cy="([\d.]+)" r="6"/>', scalp) == [("150.00", "190.01")]
    assert "<strong>Face, front</strong> · 2 points · 0.045 mL" in front
    assert "<strong>Scalp, from above</strong> · 1 point · 0.05 mL" in scalp
    items = re.findall(r"<li>(.*?)</li>", front)
    assert items == [
        '<span class="visually-hidden">Point </span>1 · left cheek · 0.02 mL · 1.0 mm',
        '<span class="visually-hidden">Point </span>2 · forehead · 0.025 mL',
    ]
    assert "3 · vertex · 0.05 mL · 2.5 mm" in scalp
    # A labelled image per view, ids unique on the page.
    ids = re.findall(r' id="([^"]+)"', html)
    assert len(ids) == len(set(ids)) == 2
    assert re.search(
        r'<svg class="injection-map-svg" viewBox="0 0 300 360" role="img" aria-labelledby="', front
    )
    assert "style=" not in html and "<script" not in html


def test_points_are_listed_by_their_number_and_map_points_are_numbered_by_place():
    saved = [
        SavedPoint(2, "face_left", Decimal("0.55"), Decimal("0.4167"), Decimal("0.02"), None),
        SavedPoint(1, "face_left", Decimal("0.5667"), Decimal("0.3083"), Decimal("0.02"), None),
    ]
    assert re.findall(r"</span>(\d) · ([a-z]+(?: [a-z]+)*)", render(saved)) == [
        ("1", "left periorbital"),
        ("2", "left cheek"),
    ]

    parsed = parse_map_points('[{"view": "face_right", "x": 0.45, "y": 0.4167, "volume_ml": "0.1"}]')
    assert isinstance(parsed[0], MapPoint)
    assert "1 · right cheek · 0.10 mL" in render(parsed)


def test_no_points_renders_nothing():
    assert render([]).strip() == ""
    assert render(None).strip() == ""

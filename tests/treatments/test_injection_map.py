"""The injection map's JSON: what the widget writes is read back exactly, and anything else
(broken, tampered or absurd) is refused with a message the practitioner can act on."""

from __future__ import annotations

import html
import json
from decimal import Decimal

import pytest
from django import forms
from django.core.exceptions import ValidationError

from treatments.injection_map import (
    MAP_VIEWS,
    MAX_POINTS,
    MapPoint,
    MapPointsField,
    MapView,
    format_ml,
    format_mm,
    map_summary,
    parse_map_points,
    points_to_json,
)


def point(**overrides) -> dict:
    return {
        "view": "face_front",
        "x": 0.4213,
        "y": 0.3312,
        "volume_ml": "0.02",
        "depth_mm": "1.0",
    } | overrides


def raw(*points: dict) -> str:
    return json.dumps(list(points))


def messages(text: str) -> list[str]:
    with pytest.raises(ValidationError) as caught:
        parse_map_points(text)
    return caught.value.messages


def test_the_views_share_one_box_and_have_labels():
    assert MAP_VIEWS == {
        "face_front": "Face, front",
        "face_left": "Face, left oblique",
        "face_right": "Face, right oblique",
        "scalp": "Scalp, from above",
    }
    assert MapView.FACE_LEFT.label == "Face, left oblique"


@pytest.mark.parametrize("text", ["", "   ", None])
def test_empty_is_no_points(text):
    assert parse_map_points(text) == []


def test_an_empty_list_is_no_points():
    assert parse_map_points("[]") == []


def test_what_the_widget_writes_is_read_back_in_order():
    points = parse_map_points(
        raw(
            point(),
            point(view="scalp", x=1, y=0, volume_ml=0.025, depth_mm=None),
            point(view="face_left", x=0.5, y=0.5, volume_ml="1", depth_mm=2.25),
        )
    )
    assert points == [
        MapPoint("face_front", Decimal("0.4213"), Decimal("0.3312"), Decimal("0.02"), Decimal("1.0")),
        MapPoint("scalp", Decimal("1"), Decimal("0"), Decimal("0.025"), None),
        MapPoint("face_left", Decimal("0.5"), Decimal("0.5"), Decimal("1"), Decimal("2.25")),
    ]
    first = points[0]
    assert first.view_label == "Face, front"
    # Exactly the decimals the text had (no float rounding), to the stored places.
    assert str(first.volume_ml) == "0.020"
    assert str(first.x) == "0.4213"
    with pytest.raises(AttributeError):
        first.x = Decimal(0)  # frozen


def test_depth_is_optional_and_may_be_missing_null_or_empty():
    no_key = point()
    del no_key["depth_mm"]
    parsed = parse_map_points(raw(no_key, point(depth_mm=None), point(depth_mm="")))
    assert [p.depth_mm for p in parsed] == [None, None, None]


def test_positions_are_rounded_to_four_decimals():
    (p,) = parse_map_points(raw(point(x=0.123456, y=0.99996)))
    assert (p.x, p.y) == (Decimal("0.1235"), Decimal("1.0000"))


def test_a_negative_zero_is_written_as_zero():
    (p,) = parse_map_points('[{"view": "scalp", "x": -0.0, "y": -0, "volume_ml": "0.1"}]')
    assert (str(p.x), str(p.y)) == ("0.0000", "0.0000")


def test_volumes_as_numbers_or_plain_decimal_strings():
    parsed = parse_map_points(raw(point(volume_ml=".5"), point(volume_ml=" 0.05 "), point(volume_ml=5)))
    assert [p.volume_ml for p in parsed] == [Decimal("0.5"), Decimal("0.05"), Decimal("5")]


# --- Refused as a whole -------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "{",
        '{"view": "face_front"}',
        '"a string"',
        "42",
        "null",
        "[1, 2",
        "[NaN]",
        '[{"view": "face_front", "x": NaN, "y": 0.1, "volume_ml": "0.02"}]',
        '[{"view": "face_front", "x": Infinity, "y": 0.1, "volume_ml": "0.02"}]',
        '[{"view": "face_front", "x": 0.1, "y": -Infinity, "volume_ml": "0.02"}]',
        "[" * 50_000 + "]" * 50_000,  # nested past the parser's recursion limit
        "[" + ",".join(['{"view":"scalp","x":0.5,"y":0.5,"volume_ml":"0.02"}'] * 5000) + "]",  # too long
    ],
    ids=lambda t: t[:30],
)
def test_unreadable_json_is_refused_with_what_to_do(text):
    with pytest.raises(ValidationError) as caught:
        parse_map_points(text)
    assert caught.value.code == "unreadable"
    assert "enter the number of points and the volume per point instead" in caught.value.messages[0]


def test_more_than_400_points_are_refused():
    text = raw(*[point(volume_ml="0.01", depth_mm=None)] * (MAX_POINTS + 1))
    with pytest.raises(ValidationError) as caught:
        parse_map_points(text)
    assert caught.value.code == "too_many"
    assert caught.value.messages == [
        "The map has 401 points; at most 400 can be recorded. Remove some, or record the line as a "
        "number of points and a volume per point instead."
    ]
    assert len(parse_map_points(raw(*[point()] * MAX_POINTS))) == MAX_POINTS


# --- One point wrong ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("item", "message"),
    [
        (1, "Point 2 on the map could not be read: remove it and place it again."),
        ("face_front", "Point 2 on the map could not be read: remove it and place it again."),
        ([0.1, 0.2], "Point 2 on the map could not be read: remove it and place it again."),
        (point(extra={"nested": [1]}), "Point 2 on the map could not be read: remove it and place it again."),
        (
            point(view="back"),
            "Point 2 is on a diagram this clinic does not know: remove it and place it again.",
        ),
        (
            point(view=None),
            "Point 2 is on a diagram this clinic does not know: remove it and place it again.",
        ),
        (
            point(view={"a": 1}),
            "Point 2 is on a diagram this clinic does not know: remove it and place it again.",
        ),
        (
            point(x=None),
            "Point 2 (Face, front) has no position on the diagram: remove it and place it again.",
        ),
        (
            point(x="0.4"),
            "Point 2 (Face, front) has no position on the diagram: remove it and place it again.",
        ),
        (
            point(y=True),
            "Point 2 (Face, front) has no position on the diagram: remove it and place it again.",
        ),
        (
            point(x={"v": 1}),
            "Point 2 (Face, front) has no position on the diagram: remove it and place it again.",
        ),
        (
            point(x=[0.5]),
            "Point 2 (Face, front) has no position on the diagram: remove it and place it again.",
        ),
        (
            point(x=1.0001),
            "Point 2 (Face, front) is outside the diagram: drag it back onto it, or remove it.",
        ),
        (point(y=-0.01), "Point 2 (Face, front) is outside the diagram: drag it back onto it, or remove it."),
        (
            point(x=10**400),
            "Point 2 (Face, front) is outside the diagram: drag it back onto it, or remove it.",
        ),
        (point(volume_ml=None), "Point 2 (Face, front) has no volume: enter its volume in mL."),
        (point(volume_ml=""), "Point 2 (Face, front) has no volume: enter its volume in mL."),
        (point(volume_ml="0"), "Point 2 (Face, front): the volume must be more than 0 mL."),
        (point(volume_ml=-0.02), "Point 2 (Face, front): the volume must be more than 0 mL."),
        (
            point(volume_ml="5.5"),
            "Point 2 (Face, front): 5.5 mL is more than the 5 mL one point can take; check the volume.",
        ),
        (
            point(volume_ml="0.0005"),
            "Point 2 (Face, front): give the volume to at most 3 decimals (e.g. 0.025 mL).",
        ),
        (point(volume_ml="abc"), "Point 2 (Face, front): “abc” is not a volume; enter it in mL, e.g. 0.02."),
        (point(volume_ml="NaN"), "Point 2 (Face, front): “NaN” is not a volume; enter it in mL, e.g. 0.02."),
        (
            point(volume_ml="Infinity"),
            "Point 2 (Face, front): “Infinity” is not a volume; enter it in mL, e.g. 0.02.",
        ),
        (
            point(volume_ml="2e-2"),
            "Point 2 (Face, front): “2e-2” is not a volume; enter it in mL, e.g. 0.02.",
        ),
        (
            point(volume_ml="0,02"),
            "Point 2 (Face, front): “0,02” is not a volume; enter it in mL, e.g. 0.02.",
        ),
        (
            point(volume_ml=True),
            "Point 2 (Face, front): the value given is not a volume; enter it in mL, e.g. 0.02.",
        ),
        (
            point(volume_ml={"ml": 1}),
            "Point 2 (Face, front): the value given is not a volume; enter it in mL, e.g. 0.02.",
        ),
        (point(depth_mm="0"), "Point 2 (Face, front): the depth must be more than 0 mm (or leave it empty)."),
        (point(depth_mm=10.5), "Point 2 (Face, front): 10.5 mm is deeper than 10 mm; check the depth."),
        (
            point(depth_mm="1.125"),
            "Point 2 (Face, front): give the depth to at most 2 decimals (e.g. 1.25 mm).",
        ),
        (
            point(depth_mm="deep"),
            "Point 2 (Face, front): “deep” is not a depth; enter it in mm, e.g. 1.5, or leave it empty.",
        ),
    ],
)
def test_a_wrong_point_is_named_with_what_to_correct(item, message):
    assert messages(raw(point(), item)) == [message]
    with pytest.raises(ValidationError) as caught:
        parse_map_points(raw(point(), item))
    assert caught.value.error_list[0].code == "point"


def test_huge_and_tiny_numbers_are_refused_without_writing_them_out():
    huge = '[{"view": "face_front", "x": 0.5, "y": 0.5, "volume_ml": 1e999999999}]'
    assert messages(huge) == [
        "Point 1 (Face, front): the value given is more than the 5 mL one point can take; check the volume."
    ]
    many_digits = '[{"view": "face_front", "x": 0.5, "y": 0.5, "volume_ml": 1' + "0" * 5000 + "}]"
    assert "the value given is more than" in messages(many_digits)[0]
    tiny = '[{"view": "face_front", "x": 0.5, "y": 0.5, "volume_ml": 1e-999999999}]'
    assert messages(tiny) == ["Point 1 (Face, front): give the volume to at most 3 decimals (e.g. 0.025 mL)."]
    deep = '[{"view": "face_front", "x": 0.5, "y": 0.5, "volume_ml": 0.02, "depth_mm": 1e400}]'
    assert messages(deep) == ["Point 1 (Face, front): the value given is deeper than 10 mm; check the depth."]


def test_trailing_zeros_are_not_decimals_that_count():
    (p,) = parse_map_points(raw(point(volume_ml="0.0200000", depth_mm="1.5000")))
    assert (p.volume_ml, p.depth_mm) == (Decimal("0.02"), Decimal("1.5"))


def test_a_long_list_of_wrong_points_names_five_and_counts_the_rest():
    found = messages(raw(*[point(volume_ml="0")] * 12))
    assert len(found) == 6
    assert found[0] == "Point 1 (Face, front): the volume must be more than 0 mL."
    assert found[4].startswith("Point 5 ")
    assert found[5] == "…and 7 more points on the map need correcting."
    assert messages(raw(*[point(volume_ml="0")] * 6))[-1] == "…and 1 more point on the map need correcting."


# --- Summary, display, writing back -----------------------------------------------------


def test_map_summary_counts_totals_and_finds_the_common_volume():
    same = parse_map_points(raw(*[point(volume_ml="0.015")] * 12))
    assert map_summary(same) == (12, Decimal("0.180"), Decimal("0.015"))
    mixed = parse_map_points(raw(point(volume_ml="0.02"), point(volume_ml="0.05")))
    assert map_summary(mixed) == (2, Decimal("0.07"), None)
    assert map_summary([]) == (0, Decimal(0), None)
    # Duck-typed: saved rows work as well as MapPoints.
    assert map_summary(iter(same[:2])) == (2, Decimal("0.03"), Decimal("0.015"))


@pytest.mark.parametrize(
    ("value", "ml"),
    [(Decimal("0.180"), "0.18"), (Decimal("0.075"), "0.075"), (Decimal(1), "1.00"), (None, "")],
)
def test_format_ml(value, ml):
    assert format_ml(value) == ml


@pytest.mark.parametrize(("value", "mm"), [(Decimal("1.00"), "1.0"), (Decimal("1.25"), "1.25"), (None, "")])
def test_format_mm(value, mm):
    assert format_mm(value) == mm


def test_saved_points_are_written_back_as_the_widget_reads_them():
    points = parse_map_points(raw(point(), point(view="scalp", x=1, y=0, volume_ml="0.5", depth_mm=None)))
    text = points_to_json(points)
    assert json.loads(text) == [
        {"view": "face_front", "x": 0.4213, "y": 0.3312, "volume_ml": "0.02", "depth_mm": "1.0"},
        {"view": "scalp", "x": 1.0, "y": 0.0, "volume_ml": "0.5", "depth_mm": None},
    ]
    assert parse_map_points(text) == points


class LineForm(forms.Form):
    map_points = MapPointsField()


def test_the_form_field_cleans_to_points_and_shows_its_errors():
    form = LineForm(data={"map_points": raw(point())})
    assert form.is_valid()
    assert form.cleaned_data["map_points"] == parse_map_points(raw(point()))
    assert 'type="hidden"' in str(form["map_points"])

    assert LineForm(data={"map_points": ""}).is_valid()
    assert LineForm(data={}).is_valid()
    bad = LineForm(data={"map_points": raw(point(volume_ml="9"))})
    assert not bad.is_valid()
    assert bad.errors["map_points"] == [
        "Point 1 (Face, front): 9 mL is more than the 5 mL one point can take; check the volume."
    ]


def test_the_form_field_renders_saved_points_and_knows_when_they_changed():
    saved = parse_map_points(raw(point()))
    form = LineForm(initial={"map_points": saved})
    assert f'value="{html.escape(points_to_json(saved))}"' in str(form["map_points"])
    unchanged = LineForm(data={"map_points": points_to_json(saved)}, initial={"map_points": saved})
    assert not unchanged.has_changed()
    moved = LineForm(data={"map_points": raw(point(x=0.5))}, initial={"map_points": saved})
    assert moved.has_changed()
    broken = LineForm(data={"map_points": "{"}, initial={"map_points": saved})
    assert broken.has_changed()

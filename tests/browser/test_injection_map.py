"""A practitioner charts injection points on the face diagrams, on a tablet and on a phone.

The widget runs on a test-only page (tests/treatments/map_urls.py): one product line with the
inputs the record form gives it, posting to itself, so what the browser wrote is read back by
the server's parser and drawn again as after a failed save.
"""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import assert_accessible, sign_in

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.urls("tests.treatments.map_urls"),
]

PAGE = "/test/injection-map/?vial_volume=0.50"
VIEWPORTS = {"tablet": {"width": 1024, "height": 768}, "phone": {"width": 390, "height": 844}}


@pytest.fixture
def device_page(request, browser, live_server):
    """A page at one of VIEWPORTS; the phone taps with a touchscreen (real touch pointer events)."""
    name = getattr(request, "param", "tablet")
    context = browser.new_context(
        base_url=live_server.url,
        viewport=VIEWPORTS[name],
        has_touch=name == "phone",
        is_mobile=name == "phone",
    )
    page = context.new_page()
    page.set_default_timeout(10_000)
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.console_errors = errors
    page.device = name
    yield page
    context.close()


class Map:
    """Drives the widget as a person does: taps and drags at viewBox spots of the shown view."""

    def __init__(self, page):
        self.page = page
        self.touch = page.device == "phone"

    def field(self, name):
        return self.page.locator(f'[name="line-0-{name}"]')

    def canvas(self):
        return self.page.locator(".injection-map-canvas.is-current")

    def at(self, x: float, y: float) -> tuple[float, float]:
        """Viewport pixels of viewBox point (x, y) of the shown diagram."""
        canvas = self.canvas()
        canvas.scroll_into_view_if_needed()
        box = canvas.bounding_box()
        return box["x"] + x / 300 * box["width"], box["y"] + y / 360 * box["height"]

    def tap(self, x: float, y: float) -> None:
        px, py = self.at(x, y)
        if self.touch:
            self.page.touchscreen.tap(px, py)
        else:
            self.page.mouse.click(px, py)

    def drag(self, start: tuple[float, float], end: tuple[float, float], steps: int = 8) -> None:
        (sx, sy), (ex, ey) = self.at(*start), self.at(*end)
        if self.touch:
            # Playwright has no touch drag; the DevTools protocol sends real touch events.
            cdp = self.page.context.new_cdp_session(self.page)
            cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": sx, "y": sy}]})
            for i in range(1, steps + 1):
                point = {"x": sx + (ex - sx) * i / steps, "y": sy + (ey - sy) * i / steps}
                cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [point]})
            cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
            cdp.detach()
        else:
            self.page.mouse.move(sx, sy)
            self.page.mouse.down()
            self.page.mouse.move(ex, ey, steps=steps)
            self.page.mouse.up()

    def points(self) -> list[dict]:
        text = self.field("map_points").input_value()
        return json.loads(text) if text else []

    def status(self):
        return self.page.locator("[data-map-status]")

    def summary(self):
        return self.page.locator("[data-map-summary]")

    def warning(self):
        return self.page.locator("[data-map-warning]")

    def item_labels(self) -> list[str]:
        return self.page.locator(".map-item-label").all_text_contents()

    def view_button(self, label: str):
        return self.page.get_by_role("button", name=re.compile(rf"^{label} \d"))


def open_map(page, practitioner) -> Map:
    sign_in(page, practitioner.username)
    page.goto(PAGE)
    expect(page.locator(".injection-map-ui")).to_be_visible()
    return Map(page)


BOTH = pytest.mark.parametrize("device_page", list(VIEWPORTS), indirect=True)


@BOTH
def test_points_are_placed_moved_edited_and_removed(device_page, practitioner):
    page = device_page
    m = open_map(page, practitioner)
    expect(page.locator(".injection-map-nojs")).to_be_hidden()
    m.field("volume_per_point_ml").fill("0.02")
    m.field("route").select_option("intradermal")
    m.field("volume_ml").fill("1.00")

    # Three taps on the front view: the patient's left cheek is on the viewer's right.
    m.tap(190, 150)
    expect(m.status()).to_have_text("Point 1 added at left cheek; Face ticked in the areas.")
    m.tap(150, 75)
    m.tap(110, 150)
    expect(m.status()).to_have_text("Point 3 added at right cheek.")
    assert page.locator(".injection-map-canvas.is-current .map-point").count() == 3
    expect(m.summary()).to_have_text("3 points · 0.06 mL on the map")
    expect(m.warning()).to_have_text("The map totals 0.06 mL; 1.00 mL is recorded as drawn.")
    expect(m.field("points")).to_have_value("3")
    expect(page.get_by_label("Face", exact=True)).to_be_checked()
    assert m.item_labels() == [
        "Point 1 · Face, front · left cheek",
        "Point 2 · Face, front · forehead",
        "Point 3 · Face, front · right cheek",
    ]

    # Dragging point 1 moves it (and places nothing); the zone it lands in is ticked.
    m.drag((190, 150), (182, 116))
    expect(m.status()).to_have_text("Point 1 moved to left periorbital; Periorbital ticked in the areas.")
    assert len(m.points()) == 3
    first = m.points()[0]
    assert first["x"] == pytest.approx(182 / 300, abs=0.01)
    assert first["y"] == pytest.approx(116 / 360, abs=0.01)
    expect(page.get_by_label("Periorbital", exact=True)).to_be_checked()

    # The left oblique: one more point; each view's button counts its own.
    m.view_button("Left oblique").click()
    expect(m.view_button("Left oblique")).to_have_attribute("aria-pressed", "true")
    expect(m.view_button("Front")).to_have_attribute("aria-pressed", "false")
    m.tap(165, 150)
    expect(m.status()).to_have_text("Point 4 added at left cheek.")
    expect(m.view_button("Front")).to_have_accessible_name("Front 3 points")
    expect(m.view_button("Left oblique")).to_have_accessible_name("Left oblique 1 point")

    # The list: edit a volume, remove a point with the keyboard.
    page.get_by_label("Volume of point 2 (mL)").fill("0.05")
    expect(m.summary()).to_have_text("4 points · 0.11 mL on the map")
    expect(m.field("volume_per_point_ml")).to_have_value("0.02")  # volumes differ now
    page.get_by_role("button", name="Remove point 3").focus()
    page.keyboard.press("Enter")
    expect(m.status()).to_have_text("Point 3 removed. The points after it are renumbered.")
    # Focus stays in the list, on the point that took its place.
    expect(page.get_by_role("button", name="Remove point 3")).to_be_focused()
    assert m.item_labels() == [
        "Point 1 · Face, front · left periorbital",
        "Point 2 · Face, front · forehead",
        "Point 3 · Face, left oblique · left cheek",
    ]
    expect(m.summary()).to_have_text("3 points · 0.09 mL on the map")

    points = m.points()
    assert [p["view"] for p in points] == ["face_front", "face_front", "face_left"]
    assert [p["volume_ml"] for p in points] == ["0.02", "0.05", "0.02"]
    assert all(0 <= p[k] <= 1 and round(p[k], 4) == p[k] for p in points for k in ("x", "y"))
    expect(m.field("points")).to_have_value("3")

    # Drawn and mapped volumes: within 10 % no warning; vials × the vial volume when no volume.
    expect(m.warning()).to_have_text("The map totals 0.09 mL; 1.00 mL is recorded as drawn.")
    m.field("volume_ml").fill("0.10")
    expect(m.warning()).to_be_hidden()
    m.field("volume_ml").fill("")
    m.field("vials").fill("1")
    expect(m.warning()).to_have_text("The map totals 0.09 mL; 0.50 mL is recorded as drawn.")
    assert_accessible(page)

    # The server reads the same points, names the same regions, and the form comes back drawn.
    labels = m.item_labels()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", name="Saved 3 points")).to_be_visible()
    saved = page.locator(".injection-map-record .injection-map-points li").all_text_contents()
    assert saved == [
        "Point 1 · left periorbital · 0.02 mL",
        "Point 2 · forehead · 0.05 mL",
        "Point 3 · left cheek · 0.02 mL",
    ]
    assert [re.sub(r" · Face, [a-z ]+ · ", " · ", label) for label in labels] == [
        s.rsplit(" · ", 1)[0] for s in saved
    ]
    assert page.locator(".injection-map-record svg").count() == 2
    expect(m.summary()).to_have_text("3 points · 0.09 mL on the map")
    assert m.item_labels() == labels
    assert page.locator(".map-point").count() - page.locator(".injection-map-record .map-point").count() == 3
    assert_accessible(page)
    assert page.console_errors == []


@BOTH
def test_a_topical_line_marks_areas_instead_of_points(device_page, practitioner):
    page = device_page
    m = open_map(page, practitioner)
    m.field("route").select_option("topical")
    expect(page.locator("[data-map-add]")).to_be_hidden()
    expect(m.summary()).to_have_text("Topical: no area marked yet.")

    m.tap(150, 240)
    neck = page.get_by_label("Neck", exact=True)
    expect(neck).to_be_checked()
    expect(m.status()).to_have_text("Neck marked.")
    expect(page.locator('.injection-map-canvas.is-current .map-area[data-area="neck"]')).to_have_class(
        re.compile(r"\bis-marked\b")
    )
    m.tap(118, 115)
    expect(page.get_by_label("Periorbital", exact=True)).to_be_checked()
    expect(m.summary()).to_have_text("Topical: 2 areas marked (Neck, Periorbital)")
    assert page.locator("[data-map-list] li > span").all_text_contents() == ["Neck", "Periorbital"]
    assert m.points() == []
    expect(m.field("points")).to_have_value("")

    m.tap(150, 240)  # again: unmarked
    expect(neck).not_to_be_checked()
    expect(m.status()).to_have_text("Neck unmarked.")
    page.get_by_role("button", name="Unmark Periorbital").click()
    expect(page.get_by_label("Periorbital", exact=True)).not_to_be_checked()
    expect(m.summary()).to_have_text("Topical: no area marked yet.")
    assert_accessible(page)

    # Injected again: a ticked area is a light cue, and a point in an unticked area ticks it.
    m.field("route").select_option("intradermal")
    page.get_by_label("Décolletage", exact=True).check()
    expect(page.locator('.injection-map-canvas.is-current .map-area[data-area="decolletage"]')).to_have_class(
        re.compile(r"\bis-cued\b")
    )
    m.tap(150, 240)
    expect(m.status()).to_have_text(
        "Point 1 added at neck; Neck ticked in the areas; it has no volume yet: enter it in the list."
    )
    expect(neck).to_be_checked()
    expect(page.get_by_label("Volume of point 1 (mL)")).to_have_attribute("aria-invalid", "true")
    assert page.console_errors == []


@BOTH
def test_keyboard_only_a_point_is_added_moved_and_removed(device_page, practitioner):
    page = device_page
    m = open_map(page, practitioner)
    m.field("volume_per_point_ml").focus()
    page.keyboard.type("0.03")
    m.field("depth_mm").focus()
    page.keyboard.type("1.5")

    page.get_by_role("button", name="Add a point").focus()
    page.keyboard.press("Enter")
    expect(m.status()).to_have_text("Point 1 added at nose. Arrow keys move it; Escape goes back.")
    stage = page.get_by_role("application", name="Injection map, Face, front")
    expect(stage).to_be_focused()
    (start,) = m.points()
    assert start | {"x": 0, "y": 0} == {
        "view": "face_front",
        "x": 0,
        "y": 0,
        "volume_ml": "0.03",
        "depth_mm": "1.5",
    }

    for _ in range(20):
        page.keyboard.press("ArrowRight")
    page.keyboard.press("Shift+ArrowDown")
    (moved,) = m.points()
    assert moved["x"] == pytest.approx(start["x"] + 40 / 300, abs=0.0006)
    assert moved["y"] == pytest.approx(start["y"] + 10 / 360, abs=0.0006)
    expect(m.status()).to_have_text("Point 1 at left cheek.")
    expect(page.locator(".map-item-label")).to_have_text("Point 1 · Face, front · left cheek")

    # Escape goes back to the button; the next point starts at the centre again (point 1 left
    # it), and the one after that beside it, not on top.
    page.keyboard.press("Escape")
    expect(page.get_by_role("button", name="Add a point")).to_be_focused()
    page.keyboard.press("Enter")
    expect(m.status()).to_have_text(re.compile(r"^Point 2 added at nose\."))
    page.keyboard.press("Escape")
    page.keyboard.press("Enter")
    expect(m.status()).to_have_text(re.compile(r"^Point 3 added at "))
    _, second, third = m.points()
    assert (second["x"], second["y"]) == (start["x"], start["y"])
    assert (third["x"], third["y"]) != (second["x"], second["y"])
    page.keyboard.press("Delete")
    expect(m.status()).to_have_text("Point 3 removed.")
    page.get_by_role("button", name="Remove point 2").focus()
    page.keyboard.press("Space")
    expect(m.status()).to_have_text("Point 2 removed.")
    assert len(m.points()) == 1

    # From the list: Move selects the point and gives the arrows to the diagram.
    page.get_by_role("button", name="Move point 1", exact=True).focus()
    page.keyboard.press("Enter")
    expect(stage).to_be_focused()
    expect(page.locator(".map-point.is-selected")).to_have_count(1)
    page.keyboard.press("Shift+ArrowUp")
    assert m.points()[0]["y"] == pytest.approx(moved["y"] - 10 / 360, abs=0.0006)
    page.keyboard.press("Escape")
    expect(page.get_by_role("button", name="Move point 1", exact=True)).to_be_focused()
    expect(m.field("points")).to_have_value("1")
    expect(m.field("volume_per_point_ml")).to_have_value("0.03")
    assert_accessible(page)
    assert page.console_errors == []


@BOTH
def test_points_the_server_refuses_come_back_drawn_with_the_reason(device_page, practitioner):
    page = device_page
    m = open_map(page, practitioner)
    m.field("volume_per_point_ml").fill("9")
    m.tap(150, 75)
    # The widget says so at once (the server's rules); saving is still the practitioner's call.
    volume = page.get_by_label("Volume of point 1 (mL)")
    expect(volume).to_have_attribute("aria-invalid", "true")
    expect(volume).to_have_accessible_description("A point takes at most 5 mL.")
    depth = page.get_by_label("Depth of point 1 (mm)")
    depth.fill("1.125")
    expect(depth).to_have_accessible_description("At most 2 decimals, e.g. 1.25.")
    depth.fill("1.25")
    expect(depth).to_have_attribute("aria-invalid", "false")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("alert")).to_contain_text(
        "Point 1 (Face, front): 9 mL is more than the 5 mL one point can take; check the volume."
    )
    assert page.get_by_role("heading", name=re.compile("^Saved")).count() == 0
    expect(m.summary()).to_have_text("1 point · 9.00 mL on the map")
    assert m.item_labels() == ["Point 1 · Face, front · forehead"]
    page.get_by_label("Volume of point 1 (mL)").fill("0.5")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", name="Saved 1 point")).to_be_visible()
    assert page.console_errors == []


def test_without_javascript_a_note_shows_and_the_form_still_posts(browser, live_server, practitioner):
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False)
    page = context.new_page()
    try:
        sign_in(page, practitioner.username)
        page.goto(PAGE)
        expect(
            page.get_by_text(
                "The injection map needs JavaScript; enter the number of points and volume per point instead."
            )
        ).to_be_visible()
        expect(page.locator(".injection-map-ui")).to_be_hidden()
        page.get_by_label("Number of points").fill("12")
        page.get_by_label("Volume per point (mL)").fill("0.015")
        page.get_by_role("button", name="Save").click()
        expect(page.get_by_role("heading", name="Saved 0 points")).to_be_visible()
        expect(page.get_by_label("Number of points")).to_have_value("12")
    finally:
        context.close()

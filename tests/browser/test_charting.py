"""Charting at the chair, on a tablet (1024×768) and a phone (390×844), as a practitioner:
the standard session in few actions, safe scanning, Enter that never submits, the injection
map, signing and printing; and the front desk sees none of it."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.utils import timezone

from products.compliance import product_route_problems
from products.models import Lot
from products.services import lot_quarantine
from tests.browser.conftest import assert_accessible, sign_in
from tests.factories import PASSWORD
from tests.products.factories import make_lot
from tests.treatments.factories import (
    PatientFactory,
    SessionFactory,
    charting_lot,
    clear_for_use,
    screen,
    sign_consent,
)
from treatments.models import SessionStatus, TreatmentRecord
from treatments.protocols import ensure_default_templates

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TABLET = {"width": 1024, "height": 768}
PHONE = {"width": 390, "height": 844}
SIZES = pytest.mark.parametrize("size", [TABLET, PHONE], ids=["tablet", "phone"])

# Actions to chart the demo's standard skin-quality injection session, from the session page
# to the signed record, counted by ``Actions`` below. Before the chair form (d0f4e44) it took
# 24: Chart 1, two ticks 2, sealed vials (tap, "1") 2, route (open, pick) 2, face 1, needle
# (tap, "31") 3, volume per point (tap, "0.015") 6, points (tap, "100") 4, Save 1, Sign 1,
# confirm 1 — the protocol's values now come filled in. The test fails if this grows.
STANDARD_SESSION_ACTIONS = 6


class Actions:
    """Counts what the user does, as a tablet user would: a tap or click is 1, each key is 1,
    choosing from a list is 2 (open it, pick), answering a dialog is 1."""

    def __init__(self, page):
        self.page = page
        self.count = 0
        self.log: list[str] = []

    def _add(self, n: int, what: str) -> None:
        self.count += n
        self.log.append(f"{n} {what}")

    def tap(self, locator, what: str) -> None:
        locator.click()
        self._add(1, what)

    def check(self, locator, what: str) -> None:
        locator.check()
        self._add(1, what)

    def type(self, locator, text: str, what: str) -> None:
        locator.click()
        locator.press_sequentially(text)
        self._add(1 + len(text), what)

    def press(self, key: str, what: str) -> None:
        self.page.keyboard.press(key)
        self._add(1, what)

    def confirm_next_dialog(self) -> None:
        self.page.once("dialog", lambda dialog: dialog.accept())
        self._add(1, "confirm dialog")


def _prac_page(browser, live_server, size, username, password=PASSWORD):
    context = browser.new_context(base_url=live_server.url, viewport=size, has_touch=size is PHONE)
    # window.print() would open the system dialog; note that it was asked for instead.
    context.add_init_script("window.print = function () { window.__printed = (window.__printed || 0) + 1; };")
    page = context.new_page()
    page.set_default_timeout(10_000)
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.console_errors = errors
    sign_in(page, username, password)
    return page


@pytest.fixture
def chair(location, practitioner):
    """An arrived skin-quality patient with consent and screening, a usable lot and a held one."""
    ensure_default_templates()  # a transactional test starts from an empty database
    patient = PatientFactory(location=location, first_name="Jane", last_name="Doe")
    session = SessionFactory(
        patient=patient,
        practitioner=practitioner,
        status=SessionStatus.ARRIVED,
        starts_at=timezone.now() - dt.timedelta(minutes=5),
    )
    sign_consent(patient, practitioner)
    screen(patient, practitioner, session=session)
    good = charting_lot(location, quantity=10)
    held = clear_for_use(
        make_lot(unit=good.storage_unit, product=good.product, lot_number="HELD-7", quantity=4)
    )
    return {"patient": patient, "session": session, "good": good, "held": held}


@SIZES
def test_the_standard_demo_session_is_charted_and_signed_in_few_actions(browser, live_server, size):
    from clinic.demo import DEMO_PASSWORD
    from clinic.models import Location
    from treatments.demo_clinical import standard_session

    call_command("seed_demo", stdout=io.StringIO())
    session = standard_session({"marylebone": Location.objects.get(code="marylebone")})
    assert session is not None
    page = _prac_page(browser, live_server, size, session.practitioner.username, DEMO_PASSWORD)
    fefo = next(
        lot
        for lot in Lot.objects.usable().filter(storage_unit__location=session.location).fefo()
        if not product_route_problems(lot.product, "intradermal")
    )
    before = fefo.quantity_on_hand
    page.goto(f"/treatments/sessions/{session.pk}/")

    act = Actions(page)
    act.tap(page.get_by_role("link", name="Chart treatment"), "Chart treatment")
    page.wait_for_url(f"**/treatments/sessions/{session.pk}/record/")
    assert_accessible(page)
    act.check(page.get_by_label("Screening confirmed with the patient at this visit"), "screening tick")
    act.check(page.get_by_label("Signed consent for this treatment checked"), "consent tick")
    page.get_by_text("nothing stops this record from being saved").wait_for()
    act.tap(page.get_by_role("button", name="Save treatment record"), "Save")
    page.wait_for_url("**/treatments/records/*/")
    act.confirm_next_dialog()
    act.tap(page.get_by_role("button", name="Sign record"), "Sign")
    page.get_by_text("locked").first.wait_for()

    assert act.count <= STANDARD_SESSION_ACTIONS, act.log
    record = TreatmentRecord.objects.get(session=session)
    line = record.lines.get()
    assert record.is_signed and line.lot_id == fefo.pk
    assert (line.route, line.areas, line.needle_gauge, line.volume_per_point_ml) == (
        "intradermal",
        ["face"],
        31,
        Decimal("0.015"),
    )
    assert Lot.objects.get(pk=fefo.pk).quantity_on_hand == before - 1
    assert page.console_errors == []


@SIZES
def test_scanning_a_held_lot_is_refused_a_good_one_selected_and_enter_submits_nothing(
    browser, live_server, size, chair, practitioner, manager
):
    good, held = chair["good"], chair["held"]
    lot_quarantine(lot=held, actor=manager, reason="Fridge excursion")
    page = _prac_page(browser, live_server, size, practitioner.username)
    url = f"/treatments/sessions/{chair['session'].pk}/record/"
    page.goto(url)
    scan = page.get_by_label("Scan the box (GS1)")
    status = page.locator("[data-scan-status]")
    taken = page.locator('input[name="line-0-take"]:checked')
    assert taken.count() == 1  # the first usable lot, before any scan

    scan.click()
    page.keyboard.type("(10)HELD-7")
    page.keyboard.press("Enter")
    status.get_by_text("quarantined").wait_for()
    assert "Fridge excursion" in status.inner_text() and "do not use" in status.inner_text()
    assert taken.count() == 0  # nothing left selected
    assert page.url.endswith(url) and not TreatmentRecord.objects.exists()
    assert_accessible(page)

    scan.fill("")
    scan.click()
    page.keyboard.type(f"(17){good.expiry_date:%y%m%d}(10){good.lot_number}")
    page.keyboard.press("Enter")
    status.get_by_text("Selected").wait_for()
    assert taken.get_attribute("value") == f"lot:{good.pk}"

    # Enter in another field checks; it never submits.
    page.get_by_label("Needle gauge (G)").click()
    page.keyboard.press("Enter")
    page.wait_for_timeout(300)
    assert page.url.endswith(url) and not TreatmentRecord.objects.exists()
    assert page.console_errors == []


def test_without_javascript_a_scanners_enter_checks_and_saves_nothing(
    browser, live_server, chair, practitioner, manager
):
    lot_quarantine(lot=chair["held"], actor=manager, reason="Fridge excursion")
    context = browser.new_context(base_url=live_server.url, viewport=TABLET, java_script_enabled=False)
    page = context.new_page()
    sign_in(page, practitioner.username)
    page.goto(f"/treatments/sessions/{chair['session'].pk}/record/")
    page.get_by_label("Scan the box (GS1)").fill("(10)HELD-7")
    page.get_by_label("Scan the box (GS1)").press("Enter")
    page.wait_for_load_state()
    assert "quarantined" in page.content()
    assert page.locator('input[name="line-0-take"]:checked').count() == 0
    assert not TreatmentRecord.objects.exists()
    context.close()


@SIZES
def test_a_record_is_charted_with_another_line_signed_and_printed(
    browser, live_server, size, chair, practitioner, location
):
    second = charting_lot(location, quantity=3, name="Second Serum")
    page = _prac_page(browser, live_server, size, practitioner.username)
    page.goto(f"/treatments/sessions/{chair['session'].pk}/record/")
    page.get_by_role("button", name="Add a product line").click()
    line2 = page.locator("[data-line]").nth(1)
    line2.get_by_label("Product").select_option(str(second.product_id))
    assert line2.locator('input[name="line-1-take"]:checked').get_attribute("value") == f"lot:{second.pk}"
    line2.get_by_label("Open a new vial and draw part of it").check()
    assert line2.get_by_label("Sealed vials").is_hidden()
    line2.get_by_label("Volume drawn (mL)").fill("1.5")
    line2.get_by_label("Route").select_option("topical")
    assert line2.get_by_label("Needle gauge (G)").is_hidden()
    line2.get_by_label("Neck").check()
    page.get_by_label("Screening confirmed with the patient at this visit").check()
    page.get_by_label("Signed consent for this treatment checked").check()
    page.get_by_text("nothing stops this record from being saved").wait_for()
    assert_accessible(page)
    page.get_by_role("button", name="Save treatment record").click()
    page.wait_for_url("**/treatments/records/*/")
    record = TreatmentRecord.objects.get(session=chair["session"])
    assert [line.source for line in record.lines.order_by("pk")] == ["sealed", "open_new"]
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Sign record").click()
    page.get_by_text("locked").first.wait_for()
    assert_accessible(page)

    page.get_by_role("button", name="Print").click()
    assert page.evaluate("window.__printed") == 1
    page.emulate_media(media="print")
    assert page.locator("#main-nav").is_hidden() and page.get_by_role("button", name="Print").is_hidden()
    header = page.locator(".record-print-header")
    assert header.is_visible() and "printed" in header.inner_text()
    text = page.locator(".record-print").inner_text()
    for expected in (
        "Jane Doe",
        chair["good"].lot_number,
        second.lot_number,
        "Intradermal injection",
        "31G",
        "Consent to skin-quality injection",
    ):
        assert expected in text, expected
    assert page.console_errors == []


def test_the_front_desk_sees_no_charting(page, front_desk, chair):
    sign_in(page, front_desk.username)
    session = chair["session"]
    page.goto(f"/treatments/sessions/{session.pk}/")
    assert page.get_by_role("link", name="Chart treatment").count() == 0
    for url in (
        f"/treatments/sessions/{session.pk}/record/",
        f"/treatments/sessions/{session.pk}/record/scan/?code=HELD-7",
    ):
        assert page.goto(url).status == 403


@SIZES
def test_points_placed_on_the_map_are_saved_and_drawn_on_the_signed_and_printed_record(
    browser, live_server, size, chair, practitioner
):
    from tests.browser.test_injection_map import Map

    page = _prac_page(browser, live_server, size, practitioner.username)
    page.device = "phone" if size is PHONE else "tablet"
    page.goto(f"/treatments/sessions/{chair['session'].pk}/record/")
    chart_map = Map(page)
    # One diagram at a time, drawn by the stylesheet (a broken stylesheet shows all four, black).
    assert page.locator(".injection-map-canvas:visible").count() == 1
    # Unstyled SVG shapes fill black; the stylesheet makes the areas light (or clear).
    fill = page.locator(".injection-map-canvas:visible .map-area").first.evaluate(
        "el => getComputedStyle(el).fill"
    )
    assert fill != "rgb(0, 0, 0)", fill
    for x, y in ((110, 170), (190, 170), (150, 230)):  # both cheeks and the chin, front view
        chart_map.tap(x, y)
    page.get_by_text("3 points").first.wait_for()
    assert [p["view"] for p in chart_map.points()] == ["face_front"] * 3
    assert all(0 < p["x"] < 1 and 0 < p["y"] < 1 for p in chart_map.points())
    assert page.locator('[name="line-0-points"]').input_value() == "3"
    # The map totals 3 × 0.015 mL; one 5 mL vial is drawn: a warning, not a refusal.
    expect_warning = chart_map.warning()
    expect_warning.wait_for()
    assert "recorded as drawn" in expect_warning.inner_text()
    page.get_by_label("Screening confirmed with the patient at this visit").check()
    page.get_by_label("Signed consent for this treatment checked").check()
    page.get_by_text("nothing stops this record from being saved").wait_for()
    assert_accessible(page)
    page.get_by_role("button", name="Save treatment record").click()
    page.wait_for_url("**/treatments/records/*/")
    line = TreatmentRecord.objects.get(session=chair["session"]).lines.get()
    assert line.points == 3 and line.map_points.count() == 3
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Sign record").click()
    page.get_by_text("locked").first.wait_for()
    figure = page.get_by_role("img", name="Injection map, Face, front: 3 points")
    assert figure.is_visible() and figure.locator(".map-point").count() == 3
    assert_accessible(page)
    page.emulate_media(media="print")
    assert figure.is_visible()
    page.goto(f"/treatments/patients/{chair['patient'].pk}/timeline/")
    assert "Injection map (3 points)" in page.content()
    assert page.console_errors == []

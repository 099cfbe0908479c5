"""Guided photo capture with Chromium's fake camera: two views over their baselines' ghosts,
stored without metadata and shown in the gallery; a refused camera falls back to upload."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from PIL import Image

from tests.browser.conftest import assert_accessible, sign_in
from tests.treatments.factories import PatientFactory, SessionFactory, at, sign_consent
from tests.treatments.test_photos import add_photo, read_stored
from treatments.models import SessionStatus
from treatments.photos.models import Photo, PhotoTag, PhotoView

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def sitting(location, practitioner):
    patient = PatientFactory(location=location, first_name="Jane", last_name="Doe")
    sign_consent(patient, practitioner, scope_photography=True)
    earlier = SessionFactory(
        patient=patient,
        practitioner=practitioner,
        status=SessionStatus.COMPLETED,
        starts_at=at(dt.date(2026, 9, 1), 10),
    )
    baseline = add_photo(earlier, practitioner, tag=PhotoTag.BEFORE, view=PhotoView.FRONT)
    today = SessionFactory(patient=patient, practitioner=practitioner, status=SessionStatus.IN_TREATMENT)
    return {"patient": patient, "session": today, "baseline": baseline}


@pytest.mark.parametrize(
    "size", [{"width": 1024, "height": 768}, {"width": 390, "height": 844}], ids=["tablet", "phone"]
)
def test_two_views_are_captured_over_their_baselines_and_appear_in_the_gallery(
    browser, live_server, practitioner, sitting, size
):
    context = browser.new_context(base_url=live_server.url, viewport=size)
    page = context.new_page()
    page.set_default_timeout(10_000)
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    sign_in(page, practitioner.username)
    page.goto(f"/treatments/sessions/{sitting['session'].pk}/")
    page.get_by_role("link", name="Take photos").click()
    page.wait_for_url("**/capture/")
    page.wait_for_function("() => document.querySelector('[data-capture-video]').videoWidth > 0")
    ghost = page.locator("[data-capture-ghost]")
    assert ghost.is_visible()
    assert ghost.get_attribute("src").endswith(f"/{sitting['baseline'].pk}/display.jpg")
    assert "before photo of 1 Sep 2026" in page.locator("[data-capture-baseline-note]").inner_text()
    page.get_by_label("Earlier photo's ghost").fill("60")
    assert ghost.evaluate("el => getComputedStyle(el).opacity") == "0.6"
    assert page.locator("[data-capture-guides]").is_visible()
    assert_accessible(page)

    page.get_by_label("Photo is").select_option("before")
    page.get_by_role("button", name="Take photo").click()
    page.get_by_text("Saved: Front, before.").wait_for()
    # The sitting moves on to the next view not yet taken; it has no baseline.
    assert page.locator('input[name="capture-view"]:checked').get_attribute("value") == "left_45"
    assert (
        ghost.is_hidden()
        and "becomes the baseline" in page.locator("[data-capture-baseline-note]").inner_text()
    )
    page.get_by_role("button", name="Take photo").click()
    page.get_by_text("Saved: Left 45°, before.").wait_for()
    assert page.locator("[data-capture-taken] img").count() == 2

    photos = list(Photo.objects.filter(session=sitting["session"]).order_by("pk"))
    assert [(p.view, p.tag) for p in photos] == [("front", "before"), ("left_45", "before")]
    for photo in photos:
        with Image.open(io.BytesIO(read_stored(photo.full_name))) as stored:
            assert len(stored.getexif()) == 0 and "exif" not in stored.info
    page.get_by_role("link", name="Done: open the gallery").click()
    page.wait_for_load_state()
    gallery = page.locator("main").inner_text()
    assert "Front" in gallery and "Left 45°" in gallery
    assert_accessible(page)
    assert errors == []
    context.close()


def test_a_refused_camera_falls_back_to_the_file_upload(browser, live_server, practitioner, sitting):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1024, "height": 768})
    refuse = "() => Promise.reject(new DOMException('denied', 'NotAllowedError'))"
    context.add_init_script(f"navigator.mediaDevices.getUserMedia = {refuse};")
    page = context.new_page()
    sign_in(page, practitioner.username)
    page.goto(f"/treatments/photos/sessions/{sitting['session'].pk}/capture/")
    fallback = page.locator("[data-capture-fallback]")
    fallback.wait_for()
    assert "The camera was not allowed." in fallback.inner_text()
    assert page.locator("[data-capture-ui]").is_hidden()
    assert_accessible(page)
    fallback.get_by_role("link", name="Add photos from files instead").click()
    page.wait_for_url("**/upload/")
    assert page.get_by_label("Photos").is_visible()
    context.close()

"""A practitioner uploads before and after photos from two sessions and compares them."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.utils import timezone
from PIL import Image, ImageDraw

from clinic.models import AuditEvent
from tests.browser.conftest import assert_accessible, sign_in
from tests.treatments.factories import PatientFactory, SessionFactory, at, sign_consent
from treatments.models import SessionStatus
from treatments.photos.models import Photo

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def photo_bytes(spots: int) -> bytes:
    """A face-coloured JPEG with ``spots`` red marks (fewer after treatment)."""
    image = Image.new("RGB", (900, 1200), (224, 182, 160))
    draw = ImageDraw.Draw(image)
    for i in range(spots):
        x, y = 100 + (i * 137) % 700, 300 + (i * 89) % 700
        draw.ellipse((x, y, x + 24, y + 24), fill=(200, 70, 70))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=90)
    return out.getvalue()


def choose_files(page, files: list[tuple[str, bytes]]) -> None:
    page.get_by_label("Photos", exact=True).set_input_files(
        [{"name": name, "mimeType": "image/jpeg", "buffer": content} for name, content in files]
    )


def test_a_practitioner_uploads_before_and_after_photos_and_compares_them(page, practitioner, location):
    patient = PatientFactory(location=location, first_name="Jane", last_name="Doe")
    sign_consent(patient, practitioner, scope_photography=True)
    first = SessionFactory(
        patient=patient,
        practitioner=practitioner,
        starts_at=at(timezone.localdate() - dt.timedelta(weeks=8), 10),
        status=SessionStatus.COMPLETED,
    )
    latest = SessionFactory(patient=patient, practitioner=practitioner, status=SessionStatus.IN_TREATMENT)

    sign_in(page, practitioner.username)
    page.goto(f"/treatments/patients/{patient.pk}/")
    page.get_by_role("link", name="Before/after photos").click()
    page.wait_for_url(f"**/treatments/photos/patients/{patient.pk}/")
    assert "No photos yet." in page.content()

    # First session: two "before" views, each file with its own view (rows added by photos.js).
    page.goto(f"/treatments/photos/sessions/{first.pk}/upload/")
    choose_files(page, [("IMG_0001.jpg", photo_bytes(40)), ("IMG_0002.jpg", photo_bytes(35))])
    page.get_by_label("View").nth(0).wait_for()
    assert page.locator(".photo-row").count() == 2
    page.locator("#view-0").select_option("front")
    page.locator("#view-1").select_option("left_45")
    page.locator("#area-1").fill("left cheek")
    assert_accessible(page)
    page.get_by_role("button", name="Upload photos").click()
    page.wait_for_url(f"**/treatments/photos/patients/{patient.pk}/*")
    assert "Saved 2 photos of Jane Doe." in page.locator(".messages").inner_text()

    # Latest session: one "after" of the front view, using the batch choices (no per-file change).
    page.goto(f"/treatments/photos/sessions/{latest.pk}/upload/")
    page.get_by_label("Before, after or follow-up").first.select_option("after")
    choose_files(page, [("IMG_0101.jpg", photo_bytes(8))])
    assert page.locator("#tag-0").input_value() == "after"
    page.get_by_role("button", name="Upload photos").click()
    page.wait_for_url(f"**/treatments/photos/patients/{patient.pk}/*")
    assert "Saved 1 photo of Jane Doe." in page.locator(".messages").inner_text()
    assert page.locator(".photo-grid img").count() == 3
    assert_accessible(page)

    page.get_by_role("link", name="Compare").click()
    page.wait_for_url(f"**/treatments/photos/patients/{patient.pk}/compare/")
    before = Photo.objects.get(session=first, view="front")
    after = Photo.objects.get(session=latest)
    assert (before.tag, after.tag) == ("before", "after")
    side = page.locator(".photo-compare img")
    assert side.nth(0).get_attribute("src").startswith(f"/treatments/photos/{before.pk}/")
    assert side.nth(1).get_attribute("src").startswith(f"/treatments/photos/{after.pk}/")
    page.wait_for_function("Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)")

    slider = page.get_by_label("Wipe between earlier (left of the line) and later")
    slider.fill("20")
    assert page.locator("[data-overlay-top]").evaluate("el => el.style.clipPath") == "inset(0px 80% 0px 0px)"
    assert_accessible(page)

    # Every file the browser fetched was an audited view of a photo.
    viewed = set(
        AuditEvent.objects.filter(action="photo.view", actor=practitioner).values_list("object_id", flat=True)
    )
    assert {str(before.pk), str(after.pk)} <= viewed
    assert page.console_errors == []


def test_photos_dropped_on_the_upload_page_are_uploaded(page, practitioner, location):
    patient = PatientFactory(location=location, first_name="Jane", last_name="Doe")
    sign_consent(patient, practitioner, scope_photography=True)
    session = SessionFactory(patient=patient, practitioner=practitioner, status=SessionStatus.IN_TREATMENT)

    sign_in(page, practitioner.username)
    page.goto(f"/treatments/photos/sessions/{session.pk}/upload/")
    page.locator("[data-photo-drop]").evaluate(
        """(zone, bytes) => {
            const transfer = new DataTransfer();
            transfer.items.add(new File([new Uint8Array(bytes)], "dropped.jpg", {type: "image/jpeg"}));
            const init = {dataTransfer: transfer, bubbles: true, cancelable: true};
            zone.dispatchEvent(new DragEvent("drop", init));
        }""",
        list(photo_bytes(12)),
    )
    assert page.locator(".photo-row legend").inner_text() == "Photo 1: dropped.jpg"
    page.locator("#view-0").select_option("close_up")
    page.get_by_role("button", name="Upload photos").click()
    page.wait_for_url(f"**/treatments/photos/patients/{patient.pk}/*")

    assert "Saved 1 photo of Jane Doe." in page.locator(".messages").inner_text()
    assert Photo.objects.get().view == "close_up"
    assert page.console_errors == []


def test_changing_the_batch_choice_after_picking_files_applies_to_every_untouched_photo(
    page, practitioner, location
):
    """Files picked first, then the batch choice set to After: the photos are saved as After."""
    patient = PatientFactory(location=location, first_name="Jane", last_name="Doe")
    sign_consent(patient, practitioner, scope_photography=True)
    session = SessionFactory(patient=patient, practitioner=practitioner, status=SessionStatus.IN_TREATMENT)

    sign_in(page, practitioner.username)
    page.goto(f"/treatments/photos/sessions/{session.pk}/upload/")
    choose_files(page, [("IMG_0201.jpg", photo_bytes(8)), ("IMG_0202.jpg", photo_bytes(6))])
    assert page.locator(".photo-row").count() == 2
    # The second photo gets its own view; its tag is left to the batch choice.
    page.locator("#view-1").select_option("left_45")
    page.locator("#id_tag").select_option("after")
    page.locator("#id_view").select_option("right_45")
    # The rows show what will be saved.
    assert page.locator("#tag-0").input_value() == "after"
    assert page.locator("#tag-1").input_value() == "after"
    assert page.locator("#view-0").input_value() == "right_45"
    assert page.locator("#view-1").input_value() == "left_45"
    page.get_by_role("button", name="Upload photos").click()
    page.wait_for_url(f"**/treatments/photos/patients/{patient.pk}/*")
    assert "Saved 2 photos of Jane Doe." in page.locator(".messages").inner_text()

    saved = list(Photo.objects.filter(session=session).order_by("pk").values_list("tag", "view"))
    assert saved == [("after", "right_45"), ("after", "left_45")]
    assert page.console_errors == []


def test_a_photo_own_tag_wins_over_a_later_batch_choice(page, practitioner, location):
    patient = PatientFactory(location=location, first_name="Jane", last_name="Doe")
    sign_consent(patient, practitioner, scope_photography=True)
    session = SessionFactory(patient=patient, practitioner=practitioner, status=SessionStatus.IN_TREATMENT)

    sign_in(page, practitioner.username)
    page.goto(f"/treatments/photos/sessions/{session.pk}/upload/")
    choose_files(page, [("IMG_0301.jpg", photo_bytes(8))])
    page.locator("#tag-0").select_option("follow_up")
    page.locator("#id_tag").select_option("after")
    assert page.locator("#tag-0").input_value() == "follow_up"
    page.get_by_role("button", name="Upload photos").click()
    page.wait_for_url(f"**/treatments/photos/patients/{patient.pk}/*")

    assert Photo.objects.get(session=session).tag == "follow_up"

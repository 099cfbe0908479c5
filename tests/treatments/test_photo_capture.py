"""Guided capture: the page offers each view's baseline; a captured frame is stored as an upload;
comparison pairs the same view across sessions and says how far apart they are."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image

from clinic.models import AuditEvent
from tests.treatments import test_photos as shared
from tests.treatments.factories import SessionFactory, at
from tests.treatments.test_photos import add_photo, jpeg, jpeg_with_everything, read_stored
from treatments.models import Scope, SessionStatus
from treatments.photos.models import Photo, PhotoTag, PhotoView
from treatments.photos.views import time_between

pytestmark = pytest.mark.django_db

consent = shared.consent
photo_patient = shared.photo_patient
photo_session = shared.photo_session


@pytest.fixture
def history(consent, photo_patient, practitioner):
    """Two earlier sessions: the first with a before and an after photo of the front."""
    day = dt.date(2026, 9, 1)
    first = SessionFactory(
        patient=photo_patient,
        practitioner=practitioner,
        status=SessionStatus.COMPLETED,
        starts_at=at(day, 10),
    )
    second = SessionFactory(
        patient=photo_patient,
        practitioner=practitioner,
        status=SessionStatus.COMPLETED,
        starts_at=at(day + dt.timedelta(days=77), 10),
    )
    after = add_photo(first, practitioner, tag=PhotoTag.AFTER, view=PhotoView.FRONT)
    before = add_photo(first, practitioner, tag=PhotoTag.BEFORE, view=PhotoView.FRONT)
    left = add_photo(first, practitioner, tag=PhotoTag.AFTER, view=PhotoView.LEFT_45)
    later = add_photo(second, practitioner, tag=PhotoTag.BEFORE, view=PhotoView.FRONT)
    today = SessionFactory(
        patient=photo_patient,
        practitioner=practitioner,
        status=SessionStatus.IN_TREATMENT,
        starts_at=at(day + dt.timedelta(days=110), 10),
    )
    return {"first": first, "second": second, "today": today, "before": before, "after": after, "left": left,
            "later": later}  # fmt: skip


def test_the_capture_page_offers_each_views_baseline(client_for, practitioner, history):
    response = client_for(practitioner).get(reverse("photos:capture", args=[history["today"].pk]))
    assert response.status_code == 200
    views = {v["value"]: v for v in response.context["views"]}
    # The first "before" photo of the view is the baseline, even if an "after" came earlier.
    assert views["front"]["baseline"]["url"] == reverse(
        "photos:photo_file", args=[history["before"].pk, "display"]
    )
    assert views["left_45"]["baseline"]["url"] == reverse(
        "photos:photo_file", args=[history["left"].pk, "display"]
    )
    assert views["scalp_top"]["baseline"] is None
    html = response.content.decode()
    assert f'data-upload-url="{reverse("photos:capture_upload", args=[history["today"].pk])}"' in html
    assert "photo-capture.js" in html
    assert "Add photos from files instead" in html  # the fallback is always on the page


def test_without_photography_consent_the_page_says_so_and_offers_no_camera(
    client_for, practitioner, history, consent
):
    consent[Scope.PHOTOGRAPHY] = False
    response = client_for(practitioner).get(reverse("photos:capture", args=[history["today"].pk]))
    assert "no clinical-photography consent" in response.content.decode()
    assert "data-capture-ui" not in response.content.decode()


def test_a_captured_frame_is_stored_like_an_upload_without_metadata(client_for, practitioner, history):
    url = reverse("photos:capture_upload", args=[history["today"].pk])
    frame = SimpleUploadedFile("capture-front.jpg", jpeg_with_everything(), content_type="image/jpeg")
    response = client_for(practitioner).post(
        url, {"photo": frame, "view": "front", "tag": "after", "area": "cheeks"}
    )
    assert response.status_code == 200, response.content
    answer = response.json()
    photo = Photo.objects.get(pk=answer["photo"])
    assert (photo.session_id, photo.view, photo.tag, photo.area) == (
        history["today"].pk,
        "front",
        "after",
        "cheeks",
    )
    with Image.open(io.BytesIO(read_stored(photo.full_name))) as stored:
        assert len(stored.getexif()) == 0 and "exif" not in stored.info
    assert answer["thumb"] == reverse("photos:photo_file", args=[photo.pk, "thumb"])
    assert AuditEvent.objects.filter(action="photo.upload", object_id=str(photo.pk)).exists()


@pytest.mark.parametrize(
    "data, message",
    [
        ({"view": "front", "tag": "after"}, "No photo was received"),
        ({"view": "elbow", "tag": "after", "photo": "file"}, ""),
        ({"view": "front", "tag": "after", "photo": "html"}, ""),
    ],
    ids=["no-file", "unknown-view", "not-an-image"],
)
def test_a_bad_capture_is_refused_with_a_reason_and_stores_nothing(
    client_for, practitioner, history, data, message
):
    before = Photo.objects.count()
    if data.get("photo") == "file":
        data["photo"] = SimpleUploadedFile("c.jpg", jpeg(), content_type="image/jpeg")
    elif data.get("photo") == "html":
        data["photo"] = SimpleUploadedFile(
            "c.jpg", b"<html><script>alert(1)</script>", content_type="image/jpeg"
        )
    response = client_for(practitioner).post(
        reverse("photos:capture_upload", args=[history["today"].pk]), data
    )
    assert response.status_code == 400
    assert response.json()["ok"] is False and message in response.json()["error"]
    assert Photo.objects.count() == before


def test_a_capture_without_consent_is_refused(client_for, practitioner, history, consent):
    consent[Scope.PHOTOGRAPHY] = False
    frame = SimpleUploadedFile("c.jpg", jpeg(), content_type="image/jpeg")
    response = client_for(practitioner).post(
        reverse("photos:capture_upload", args=[history["today"].pk]),
        {"photo": frame, "view": "front", "tag": "before"},
    )
    assert response.status_code == 400 and "consent" in response.json()["error"]


def test_compare_pairs_the_same_view_across_sessions_and_says_how_far_apart(
    client_for, practitioner, history
):
    response = client_for(practitioner).get(reverse("photos:compare", args=[history["today"].patient_id]))
    ctx = response.context
    assert ctx["view"] == "front"
    # The baseline "before", against the latest front photo of a later session (not the same day's after).
    assert (ctx["left"], ctx["right"]) == (history["before"], history["later"])
    assert ctx["between"] == "11 weeks apart"
    assert "11 weeks apart" in response.content.decode()


@pytest.mark.parametrize(
    "days, text",
    [
        (0, "the same session"),
        (1, "1 day apart"),
        (13, "13 days apart"),
        (28, "4 weeks apart"),
        (200, "7 months apart"),
    ],
)
def test_time_between(days, text):
    class S:
        def __init__(self, pk, when):
            self.pk, self.starts_at = pk, when

    class P:
        def __init__(self, session):
            self.session, self.session_id = session, session.pk

    start = at(dt.date(2026, 3, 28), 23, 30)  # late evening, the night the clocks go forward
    a = P(S(1, start))
    b = P(S(1 if days == 0 else 2, start + dt.timedelta(days=days)))
    assert time_between(a, b) == text

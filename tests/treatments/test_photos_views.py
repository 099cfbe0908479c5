"""Photo pages and file serving: who may fetch what, headers, audit, consent, query counts."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from django.urls import reverse

from clinic.models import AuditEvent
from tests.treatments import test_photos as shared
from tests.treatments.factories import PatientFactory, SessionFactory, at
from tests.treatments.test_photos import HTML, add_photo, jpeg, read_stored, stored_files
from treatments.models import Scope, SessionStatus
from treatments.photos.models import Photo, PhotoTag, PhotoView

pytestmark = pytest.mark.django_db

# The fixtures shared with the service tests.
consent = shared.consent
photo_patient = shared.photo_patient
photo_session = shared.photo_session


def file_url(photo: Photo, rendition: str = "display") -> str:
    return reverse("photos:photo_file", args=[photo.pk, rendition])


@pytest.fixture
def photo(consent, photo_session, practitioner):
    return add_photo(photo_session, practitioner, content=jpeg(size=(2400, 1800)))


# --- serving files ----------------------------------------------------------------------------


@pytest.mark.parametrize("rendition", ["full", "display", "thumb"])
def test_a_practitioner_of_the_location_gets_the_file_private_and_uncached(
    client_for, practitioner, photo, rendition
):
    response = client_for(practitioner).get(file_url(photo, rendition))

    assert response.status_code == 200
    body = b"".join(response.streaming_content)
    assert body == read_stored(getattr(photo, f"{rendition}_name"))
    assert hashlib.sha256(body).hexdigest() == getattr(photo, f"{rendition}_sha256")
    assert response["Content-Type"] == "image/jpeg"
    assert response["Cache-Control"] == "private, no-store"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Disposition"].startswith("inline")
    assert "Doe" not in response["Content-Disposition"]
    assert "sandbox" in response["Content-Security-Policy"]


def test_every_view_of_a_photo_is_audited(client_for, practitioner, manager, photo):
    client = client_for(practitioner)
    client.get(file_url(photo, "thumb"))
    client.get(file_url(photo, "display"))
    client.get(file_url(photo, "display"))
    client_for(manager).get(file_url(photo, "full"))

    events = list(AuditEvent.objects.filter(action="photo.view").order_by("pk"))
    assert [(e.actor.username, e.after["rendition"]) for e in events] == [
        ("prac", "thumb"),
        ("prac", "display"),
        ("prac", "display"),
        ("mgr", "full"),
    ]
    assert {(e.object_type, e.object_id, e.location_id) for e in events} == {
        ("photos.photo", str(photo.pk), photo.location_id)
    }


def test_anonymous_users_are_sent_to_sign_in(client, photo):
    response = client.get(file_url(photo))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert not AuditEvent.objects.filter(action="photo.view").exists()


def test_the_front_desk_never_gets_a_photo(client_for, front_desk, photo):
    client = client_for(front_desk)
    for rendition in ("full", "display", "thumb"):
        assert client.get(file_url(photo, rendition)).status_code == 403
    assert client.get(reverse("photos:gallery", args=[photo.patient_id])).status_code == 403
    assert client.get(reverse("photos:compare", args=[photo.patient_id])).status_code == 403
    assert client.get(reverse("photos:photo_detail", args=[photo.pk])).status_code == 403
    assert client.get(reverse("photos:upload", args=[photo.session_id])).status_code == 403
    assert not AuditEvent.objects.filter(action="photo.view").exists()


def test_staff_of_another_location_get_not_found(client_for, other_manager, photo):
    client = client_for(other_manager)
    assert client.get(file_url(photo)).status_code == 404
    assert client.get(reverse("photos:gallery", args=[photo.patient_id])).status_code == 404
    assert client.get(reverse("photos:compare", args=[photo.patient_id])).status_code == 404
    assert client.get(reverse("photos:photo_detail", args=[photo.pk])).status_code == 404
    assert client.get(reverse("photos:upload", args=[photo.session_id])).status_code == 404
    assert client.post(reverse("photos:photo_retire", args=[photo.pk]), {"reason": "x"}).status_code == 404
    assert not AuditEvent.objects.filter(action="photo.view").exists()


def test_an_unknown_rendition_a_retired_photo_and_other_methods_are_refused(client_for, practitioner, photo):
    client = client_for(practitioner)
    assert client.get(reverse("photos:photo_file", args=[photo.pk, "original"])).status_code == 404
    assert client.post(file_url(photo)).status_code == 405
    Photo.objects.filter(pk=photo.pk).update(retired_at=photo.created_at, retire_reason="Blurred")
    assert client.get(file_url(photo)).status_code == 404


def test_with_nginx_the_file_is_handed_over_by_x_accel_redirect(client_for, practitioner, photo, settings):
    settings.PRIVATE_MEDIA_ACCEL_REDIRECT = "/protected/"

    response = client_for(practitioner).get(file_url(photo, "thumb"))

    assert response.status_code == 200
    assert response["X-Accel-Redirect"] == f"/protected/{photo.thumb_name}"
    assert response.content == b""
    assert response["Cache-Control"] == "private, no-store"
    assert AuditEvent.objects.filter(action="photo.view").count() == 1


# --- withdrawn photography consent ---------------------------------------------------------------


def test_withdrawn_consent_hides_photos_from_practitioners_and_records_the_refusal(
    client_for,
    practitioner,
    photo,
    consent,
):
    consent[Scope.PHOTOGRAPHY] = False
    client = client_for(practitioner)

    assert client.get(file_url(photo)).status_code == 403
    gallery = client.get(reverse("photos:gallery", args=[photo.patient_id]))
    assert gallery.status_code == 403
    assert "withdrawn consent to clinical photography" in gallery.content.decode()
    assert client.get(reverse("photos:compare", args=[photo.patient_id])).status_code == 403
    assert client.get(reverse("photos:photo_detail", args=[photo.pk])).status_code == 403

    refused = AuditEvent.objects.filter(action="photo.view_refused", actor=practitioner)
    assert sorted(e.after["what"] for e in refused) == ["compare", "detail", "display", "gallery"]
    assert not AuditEvent.objects.filter(action="photo.view").exists()


def test_withdrawn_consent_does_not_hide_photos_from_managers(client_for, manager, photo, consent):
    consent[Scope.PHOTOGRAPHY] = False
    client = client_for(manager)

    assert client.get(file_url(photo)).status_code == 200
    gallery = client.get(reverse("photos:gallery", args=[photo.patient_id]))
    assert gallery.status_code == 200
    assert "practitioners cannot" in gallery.content.decode()
    assert AuditEvent.objects.filter(action="photo.view", actor=manager).count() == 1


# --- upload page -------------------------------------------------------------------------------


def test_the_upload_page_offers_camera_capture_and_several_files(
    client_for, practitioner, photo_session, consent
):
    response = client_for(practitioner).get(reverse("photos:upload", args=[photo_session.pk]))

    assert response.status_code == 200
    html = response.content.decode()
    assert 'type="file"' in html and 'accept="image/*"' in html
    assert 'capture="environment"' in html and " multiple" in html
    assert "<script>" not in html.replace('<script src="', "")  # no inline script (CSP)


def test_uploading_several_files_with_their_own_tags_and_views(
    client_for,
    practitioner,
    photo_session,
    consent,
):
    response = client_for(practitioner).post(
        reverse("photos:upload", args=[photo_session.pk]),
        {
            "photos": [_file("a.jpg", jpeg()), _file("b.jpg", jpeg()), _file("c.jpg", jpeg())],
            "tag": "before",
            "view": "front",
            "area": "",
            "tag-1": "after",
            "view-1": "left_45",
            "area-1": "left cheek",
            "view-2": "scalp_top",
        },
    )

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("photos:gallery", args=[photo_session.patient_id]))
    photos = list(Photo.objects.order_by("pk").values_list("tag", "view", "area"))
    assert photos == [
        ("before", "front", ""),
        ("after", "left_45", "left cheek"),
        ("before", "scalp_top", ""),
    ]


def test_a_refused_upload_shows_why_and_stores_nothing(
    client_for,
    practitioner,
    photo_session,
    consent,
    _private_media,
):
    response = client_for(practitioner).post(
        reverse("photos:upload", args=[photo_session.pk]),
        {"photos": [_file("invoice.jpg", HTML)], "tag": "before", "view": "front"},
    )

    assert response.status_code == 400
    html = response.content.decode()
    assert "invoice.jpg" in html and "not a JPEG, PNG, WebP or HEIC photo" in html
    assert Photo.objects.count() == 0
    assert stored_files(_private_media) == []


def test_some_saved_and_some_refused_reports_both(client_for, practitioner, photo_session, consent):
    client = client_for(practitioner)
    response = client.post(
        reverse("photos:upload", args=[photo_session.pk]),
        {"photos": [_file("good.jpg", jpeg()), _file("bad.jpg", HTML)], "tag": "after", "view": "front"},
        follow=True,
    )

    html = response.content.decode()
    assert "Saved 1 photo of Jane Doe." in html
    assert "bad.jpg was not saved" in html
    assert Photo.objects.count() == 1


def test_upload_without_photography_consent_is_refused(
    client_for,
    practitioner,
    photo_session,
    consent,
):
    consent[Scope.PHOTOGRAPHY] = False
    client = client_for(practitioner)

    page = client.get(reverse("photos:upload", args=[photo_session.pk]))
    assert "no clinical-photography consent" in page.content.decode()
    response = client.post(
        reverse("photos:upload", args=[photo_session.pk]),
        {"photos": [_file("a.jpg", jpeg())], "tag": "before", "view": "front"},
    )
    assert response.status_code == 400
    assert Photo.objects.count() == 0


def test_the_upload_page_wants_a_login_and_no_other_method(client, photo_session):
    url = reverse("photos:upload", args=[photo_session.pk])
    assert client.get(url)["Location"].startswith(reverse("login"))


def test_the_upload_page_refuses_other_methods(client_for, practitioner, photo_session):
    assert client_for(practitioner).put(reverse("photos:upload", args=[photo_session.pk])).status_code == 405


def _file(name: str, content: bytes):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, content, content_type="image/jpeg")


# --- gallery and compare -------------------------------------------------------------------------


def photo_row(session, taken_by, *, view=PhotoView.FRONT, tag=PhotoTag.BEFORE) -> Photo:
    """A Photo row without files, for pages that only list photos (query counts)."""
    fields = {}
    for r in ("full", "display", "thumb"):
        fields.update({f"{r}_name": f"photos/x/{r}.jpg", f"{r}_sha256": "0" * 64, f"{r}_size": 1})
        fields.update({f"{r}_width": 320, f"{r}_height": 240})
    return Photo.objects.create(
        patient=session.patient,
        session=session,
        location=session.location,
        view=view,
        tag=tag,
        taken_by=taken_by,
        source_format="JPEG",
        source_width=320,
        source_height=240,
        **fields,
    )


def history(patient, practitioner, sessions: int, views=(PhotoView.FRONT, PhotoView.LEFT_45)):
    day = dt.date(2026, 1, 5)
    made = []
    for i in range(sessions):
        session = SessionFactory(
            patient=patient,
            practitioner=practitioner,
            starts_at=at(day + dt.timedelta(weeks=4 * i), 10),
            status=SessionStatus.COMPLETED,
        )
        for view in views:
            photo_row(session, practitioner, view=view, tag=PhotoTag.BEFORE)
            photo_row(session, practitioner, view=view, tag=PhotoTag.AFTER)
        made.append(session)
    return made


def test_the_gallery_is_a_grid_of_views_by_sessions(client_for, practitioner, photo_patient, consent):
    sessions = history(photo_patient, practitioner, 3)

    response = client_for(practitioner).get(reverse("photos:gallery", args=[photo_patient.pk]))

    assert response.status_code == 200
    rows = response.context["rows"]
    assert [label for label, _ in rows] == ["Front", "Left 45°"]
    assert [s.pk for s in response.context["sessions"]] == [s.pk for s in sessions]
    assert all(len(cell) == 2 for _, cells in rows for cell in cells)
    html = response.content.decode()
    assert html.count('src="/treatments/photos/') == 12
    # Thumbnails only; the page links to files through the checking view, never to storage.
    assert "/thumb.jpg" in html and "/display.jpg" not in html


def test_the_gallery_hides_retired_photos_and_other_patients(
    client_for, practitioner, photo_patient, consent
):
    [session] = history(photo_patient, practitioner, 1, views=(PhotoView.FRONT,))
    Photo.objects.filter(tag=PhotoTag.AFTER).update(retired_at=session.starts_at, retire_reason="Blurred")
    other = PatientFactory(location=photo_patient.location)
    history(other, practitioner, 1)

    response = client_for(practitioner).get(reverse("photos:gallery", args=[photo_patient.pk]))

    assert response.context["count"] == 1


def test_gallery_and_compare_query_counts_do_not_grow_with_photos(
    client_for,
    practitioner,
    photo_patient,
    consent,
    django_assert_num_queries,
):
    client = client_for(practitioner)
    gallery = reverse("photos:gallery", args=[photo_patient.pk])
    compare = reverse("photos:compare", args=[photo_patient.pk])
    history(photo_patient, practitioner, 2)
    client.get(gallery)  # warm the session and permission caches
    # The same count with two sessions of photos and with eight (and within the 10 allowed).
    with django_assert_num_queries(8, info="gallery, 2 sessions"):
        assert client.get(gallery).status_code == 200
    with django_assert_num_queries(7, info="compare, 2 sessions"):
        assert client.get(compare).status_code == 200

    history(photo_patient, practitioner, 6, views=tuple(PhotoView))
    with django_assert_num_queries(8, info="gallery, 8 sessions"):
        assert client.get(gallery).status_code == 200
    with django_assert_num_queries(7, info="compare, 8 sessions"):
        assert client.get(compare).status_code == 200


def test_compare_defaults_to_the_first_before_against_the_latest(
    client_for,
    practitioner,
    photo_patient,
    consent,
):
    sessions = history(photo_patient, practitioner, 3)
    front = list(Photo.objects.filter(view=PhotoView.FRONT).order_by("session__starts_at", "pk"))

    response = client_for(practitioner).get(reverse("photos:compare", args=[photo_patient.pk]))

    assert response.context["view"] == "front"
    assert response.context["left"] == front[0]
    assert (front[0].session, front[0].tag) == (sessions[0], "before")
    assert response.context["right"] == front[-1]
    assert front[-1].session == sessions[-1]
    html = response.content.decode()
    assert f'src="{file_url(front[0])}"' in html and f'src="{file_url(front[-1])}"' in html
    assert 'type="range"' in html


def test_compare_takes_a_chosen_view_and_pair(client_for, practitioner, photo_patient, consent):
    history(photo_patient, practitioner, 3)
    left_45 = list(Photo.objects.filter(view=PhotoView.LEFT_45).order_by("session__starts_at", "pk"))
    stranger = photo_row(
        SessionFactory(patient=PatientFactory(location=photo_patient.location)), practitioner
    )

    response = client_for(practitioner).get(
        reverse("photos:compare", args=[photo_patient.pk]),
        {"view": "left_45", "left": left_45[1].pk, "right": stranger.pk},
    )

    assert response.context["left"] == left_45[1]
    # Another patient's photo is never accepted: the default takes its place.
    assert response.context["right"] == left_45[-1]


def test_compare_with_one_photo_says_there_is_nothing_to_compare(
    client_for,
    practitioner,
    photo_patient,
    consent,
):
    photo_row(SessionFactory(patient=photo_patient), practitioner)

    response = client_for(practitioner).get(reverse("photos:compare", args=[photo_patient.pk]))

    assert response.status_code == 200
    assert "nothing to compare it with yet" in response.content.decode()


def test_the_patient_page_links_to_photos_for_clinical_staff_only(
    client_for, practitioner, front_desk, photo_patient
):
    url = reverse("treatments:patient_detail", args=[photo_patient.pk])
    gallery = reverse("photos:gallery", args=[photo_patient.pk])

    assert gallery in client_for(practitioner).get(url).content.decode()
    assert gallery not in client_for(front_desk).get(url).content.decode()


# --- photo page: marketing flag and retiring ------------------------------------------------------


def test_marking_for_marketing_from_the_page_needs_marketing_consent(
    client_for,
    practitioner,
    photo,
    consent,
):
    client = client_for(practitioner)
    url = reverse("photos:photo_marketing", args=[photo.pk])

    page = client.get(reverse("photos:photo_detail", args=[photo.pk]))
    assert "has not consented to marketing use" in page.content.decode()
    response = client.post(url, {"marketing_use": "1"}, follow=True)
    assert "not consented to their photos being used for marketing" in response.content.decode()
    photo.refresh_from_db()
    assert photo.marketing_use is False

    consent[Scope.MARKETING] = True
    client.post(url, {"marketing_use": "1"})
    photo.refresh_from_db()
    assert photo.marketing_use is True
    assert AuditEvent.objects.filter(action="photo.marketing_flag", actor=practitioner).count() == 1


def test_the_marketing_and_retire_actions_accept_post_only_and_refuse_the_desk(
    client_for, practitioner, front_desk, photo
):
    assert client_for(practitioner).get(reverse("photos:photo_marketing", args=[photo.pk])).status_code == 405
    assert client_for(practitioner).get(reverse("photos:photo_retire", args=[photo.pk])).status_code == 405
    desk = client_for(front_desk)
    assert (
        desk.post(reverse("photos:photo_marketing", args=[photo.pk]), {"marketing_use": "1"}).status_code
        == 403
    )
    assert desk.post(reverse("photos:photo_retire", args=[photo.pk]), {"reason": "x"}).status_code == 403


def test_retiring_from_the_page_takes_the_photo_off_every_page(client_for, practitioner, photo):
    client = client_for(practitioner)

    response = client.post(reverse("photos:photo_retire", args=[photo.pk]), {"reason": "Wrong patient"})

    assert response.status_code == 302
    assert client.get(file_url(photo)).status_code == 404
    assert client.get(reverse("photos:photo_detail", args=[photo.pk])).status_code == 404
    assert AuditEvent.objects.filter(action="photo.retire").count() == 1


def test_the_photo_page_and_upload_page_take_a_fixed_number_of_queries(
    client_for, practitioner, photo, django_assert_max_num_queries
):
    client = client_for(practitioner)
    detail = reverse("photos:photo_detail", args=[photo.pk])
    upload_page = reverse("photos:upload", args=[photo.session_id])
    client.get(detail)
    with django_assert_max_num_queries(8, info="photo page"):
        response = client.get(detail)
    assert response.status_code == 200
    assert "Front, before" in response.content.decode()
    with django_assert_max_num_queries(8, info="upload page"):
        assert client.get(upload_page).status_code == 200

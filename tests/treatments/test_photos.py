"""Photo services: what reaches private storage is clean, refusals store nothing, rules hold.

Every stored rendition is read back from ``storages["private"]`` (not from the processing
result) before it is checked. Consent is the other engineer's interface: until their model
lands it is patched where the photo services import it (``consent`` fixture).
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from unittest import mock

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.storage import storages
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from clinic.models import AuditEvent
from tests.treatments.factories import PatientFactory, SessionFactory
from tests.treatments.test_imaging import (
    COMMENT_MARKER,
    GPS_MARKER,
    HTML,
    MARKERS,
    PHP,
    SVG,
    XMP_MARKER,
    bilevel_png,
    jpeg_segments,
    jpeg_with_everything,
    png_with_everything,
    webp_with_everything,
)
from treatments.models import Scope, SessionStatus
from treatments.photos import services
from treatments.photos.models import RENDITIONS, Photo, PhotoTag, PhotoView
from treatments.photos.services import PhotoUpload, photo_flag_marketing, photo_retire, photo_upload

# --- shared helpers (imported by the other photo test modules) ---------------------------------


class ConsentState(dict):
    """Which scopes the patched ``has_consent`` answers True for (every patient alike)."""

    def answer(self, patient, scope, *, at=None) -> bool:
        return self.get(scope, False)


@pytest.fixture
def consent():
    """Photography consent given, marketing consent not; tests flip the scopes they need."""
    state = ConsentState({Scope.PHOTOGRAPHY: True, Scope.MARKETING: False})
    with mock.patch("treatments.photos.services.has_consent", side_effect=state.answer):
        yield state


@pytest.fixture
def photo_patient(location):
    return PatientFactory(location=location, first_name="Jane", last_name="Doe")


@pytest.fixture
def photo_session(photo_patient, practitioner):
    return SessionFactory(patient=photo_patient, practitioner=practitioner, status=SessionStatus.IN_TREATMENT)


def jpeg(color=(200, 150, 120), size=(640, 480)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def upload(content: bytes, name: str = "IMG_0001.jpg", *, tag=PhotoTag.BEFORE, view=PhotoView.FRONT, area=""):
    return PhotoUpload(
        file=SimpleUploadedFile(name, content, content_type="image/jpeg"),
        filename=name,
        tag=tag,
        view=view,
        area=area,
    )


def add_photo(
    session, actor, *, tag=PhotoTag.BEFORE, view=PhotoView.FRONT, content: bytes | None = None
) -> Photo:
    """One photo through the real service (with photography consent patched in)."""
    with mock.patch("treatments.photos.services.has_consent", return_value=True):
        [outcome] = photo_upload(
            actor=actor, session=session, uploads=[upload(content or jpeg(), tag=tag, view=view)]
        )
    assert outcome.ok, outcome.error
    return outcome.photo


def stored_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def read_stored(name: str) -> bytes:
    with storages["private"].open(name, "rb") as handle:
        return handle.read()


# --- storing clean renditions ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "source_format"),
    [(jpeg_with_everything, "JPEG"), (png_with_everything, "PNG"), (webp_with_everything, "WEBP")],
    ids=["jpeg", "png", "webp"],
)
def test_every_stored_rendition_is_free_of_gps_exif_xmp_and_comments(
    consent, photo_session, practitioner, make, source_format
):
    [outcome] = photo_upload(actor=practitioner, session=photo_session, uploads=[upload(make())])

    photo = Photo.objects.get(pk=outcome.photo.pk)
    assert photo.source_format == source_format
    for rendition in RENDITIONS:
        name = getattr(photo, f"{rendition}_name")
        assert name.startswith("photos/") and name.endswith(".jpg")
        content = read_stored(name)
        assert hashlib.sha256(content).hexdigest() == getattr(photo, f"{rendition}_sha256")
        assert len(content) == getattr(photo, f"{rendition}_size")
        with Image.open(io.BytesIO(content)) as stored:
            assert stored.format == "JPEG"
            assert len(stored.getexif()) == 0
            assert stored.getexif().get_ifd(0x8825) == {}
            for key in ("exif", "xmp", "XML:com.adobe.xmp", "comment", "icc_profile"):
                assert key not in stored.info, (rendition, key)
            assert stored.size == (
                getattr(photo, f"{rendition}_width"),
                getattr(photo, f"{rendition}_height"),
            )
        # No APP1 (EXIF/XMP), APP2 (ICC), other APPn or COM segment at all.
        assert set(jpeg_segments(content)) <= {0xE0, 0xDB, 0xC4, 0xC0, 0xC2, 0xDD, 0xDA}, rendition
        for marker in (*MARKERS, GPS_MARKER, XMP_MARKER, COMMENT_MARKER):
            assert marker.encode() not in content, (rendition, marker)
        for signature in (b"Exif\x00", b"http://ns.adobe.com/xap", b"GPS"):
            assert signature not in content, (rendition, signature)


def test_the_upload_itself_is_not_kept_and_names_are_chosen_by_the_server(
    consent, photo_session, practitioner, _private_media
):
    original = jpeg_with_everything(size=(2400, 1800))
    [outcome] = photo_upload(
        actor=practitioner, session=photo_session, uploads=[upload(original, name="../../etc/passwd.jpg")]
    )

    files = stored_files(_private_media)
    assert len(files) == 3
    assert all(original != f.read_bytes() for f in files)
    assert all("passwd" not in str(f) for f in files)
    photo = outcome.photo
    assert (photo.full_width, photo.display_width, photo.thumb_width) == (2400, 1600, 320)
    assert outcome.filename == "passwd.jpg"


def test_a_small_photo_stores_one_file_for_renditions_that_are_the_same(consent, photo_session, practitioner):
    [outcome] = photo_upload(
        actor=practitioner, session=photo_session, uploads=[upload(jpeg(size=(300, 200)))]
    )

    photo = outcome.photo
    assert photo.full_name == photo.display_name == photo.thumb_name
    assert read_stored(photo.thumb_name)


def test_the_upload_is_recorded_with_its_tag_view_area_and_hashes(consent, photo_session, practitioner):
    [outcome] = photo_upload(
        actor=practitioner,
        session=photo_session,
        uploads=[upload(jpeg(), tag=PhotoTag.AFTER, view=PhotoView.LEFT_45, area="  left cheek ")],
    )

    photo = outcome.photo
    assert (photo.tag, photo.view, photo.area) == ("after", "left_45", "left cheek")
    assert (photo.patient_id, photo.location_id, photo.taken_by) == (
        photo_session.patient_id,
        photo_session.location_id,
        practitioner,
    )
    event = AuditEvent.objects.get(action="photo.upload")
    assert event.actor == practitioner
    assert event.object_id == str(photo.pk)
    assert event.location_id == photo_session.location_id
    assert event.after["sha256"] == {r: getattr(photo, f"{r}_sha256") for r in RENDITIONS}
    assert event.after["view"] == "left_45"


# --- refusals --------------------------------------------------------------------------------


def truncated_jpeg() -> bytes:
    data = jpeg_with_everything(size=(800, 600))
    return data[: len(data) // 2]


@pytest.mark.parametrize(
    ("name", "make", "message"),
    [
        ("bomb.png", lambda: bilevel_png(30000, 30000), "too many pixels"),
        ("cut.jpg", truncated_jpeg, "damaged or was not uploaded completely"),
        ("page.jpg", lambda: HTML, "not a JPEG, PNG, WebP or HEIC photo"),
        ("drawing.svg", lambda: SVG, "not a JPEG, PNG, WebP or HEIC photo"),
        ("shell.jpg.php", lambda: PHP, "not a JPEG, PNG, WebP or HEIC photo"),
    ],
    ids=["30000x30000-png", "truncated-jpeg", "html-as-jpg", "svg", "php-as-jpg-php"],
)
def test_each_refused_file_gets_a_message_and_nothing_is_stored(
    consent, photo_session, practitioner, _private_media, name, make, message
):
    [outcome] = photo_upload(actor=practitioner, session=photo_session, uploads=[upload(make(), name=name)])

    assert not outcome.ok
    assert outcome.filename == name
    assert message in outcome.error
    assert Photo.objects.count() == 0
    assert stored_files(_private_media) == []
    assert not AuditEvent.objects.filter(action="photo.upload").exists()


def test_a_refused_file_does_not_stop_the_others(consent, photo_session, practitioner, _private_media):
    outcomes = photo_upload(
        actor=practitioner,
        session=photo_session,
        uploads=[
            upload(jpeg(), name="front.jpg"),
            upload(HTML, name="evil.jpg"),
            upload(jpeg(), name="left.jpg", view=PhotoView.LEFT_45),
        ],
    )

    assert [o.ok for o in outcomes] == [True, False, True]
    assert outcomes[1].filename == "evil.jpg"
    assert Photo.objects.count() == 2
    # 640×480 fits the display size: one file is full and display, another the thumbnail.
    expected = {p.full_name for p in Photo.objects.all()} | {p.thumb_name for p in Photo.objects.all()}
    assert len(expected) == 4
    assert sorted(f.relative_to(_private_media).as_posix() for f in stored_files(_private_media)) == sorted(
        expected
    )


def test_a_wrong_view_is_refused_before_decoding(consent, photo_session, practitioner, _private_media):
    with mock.patch("treatments.photos.services.process_upload") as process:
        [outcome] = photo_upload(
            actor=practitioner, session=photo_session, uploads=[upload(jpeg(), view="ceiling")]
        )

    assert "View:" in outcome.error
    process.assert_not_called()
    assert stored_files(_private_media) == []


def test_if_the_row_cannot_be_saved_its_files_are_removed(
    consent, photo_session, practitioner, _private_media
):
    with (
        mock.patch("treatments.photos.services.audit_record", side_effect=RuntimeError("audit down")),
        pytest.raises(RuntimeError),
    ):
        photo_upload(actor=practitioner, session=photo_session, uploads=[upload(jpeg(size=(2000, 1500)))])

    assert Photo.objects.count() == 0
    assert stored_files(_private_media) == []


def test_upload_needs_photography_consent(consent, photo_session, practitioner, _private_media):
    consent[Scope.PHOTOGRAPHY] = False

    with pytest.raises(ValidationError, match="no clinical-photography consent"):
        photo_upload(actor=practitioner, session=photo_session, uploads=[upload(jpeg())])

    assert Photo.objects.count() == 0
    assert stored_files(_private_media) == []


@pytest.mark.parametrize("status", [SessionStatus.CANCELLED, SessionStatus.NO_SHOW])
def test_no_photos_for_a_session_that_did_not_take_place(consent, photo_patient, practitioner, status):
    session = SessionFactory(patient=photo_patient, practitioner=practitioner, status=status)

    with pytest.raises(ValidationError, match="photos belong to a session that took place"):
        photo_upload(actor=practitioner, session=session, uploads=[upload(jpeg())])


def test_staff_of_another_location_cannot_upload(consent, photo_session, other_manager):
    with pytest.raises(PermissionDenied):
        photo_upload(actor=other_manager, session=photo_session, uploads=[upload(jpeg())])
    assert Photo.objects.count() == 0


def test_an_empty_request_and_too_many_files_are_refused(consent, photo_session, practitioner):
    with pytest.raises(ValidationError, match="at least one photo"):
        photo_upload(actor=practitioner, session=photo_session, uploads=[])
    many = [upload(jpeg()) for _ in range(services.MAX_FILES_PER_UPLOAD + 1)]
    with pytest.raises(ValidationError, match="at most 20 photos"):
        photo_upload(actor=practitioner, session=photo_session, uploads=many)
    assert Photo.objects.count() == 0


# --- marketing flag and retiring -----------------------------------------------------------------


def test_marking_for_marketing_needs_marketing_consent(consent, photo_session, practitioner):
    photo = add_photo(photo_session, practitioner)

    with pytest.raises(ValidationError, match="not consented to their photos being used for marketing"):
        photo_flag_marketing(actor=practitioner, photo=photo, marketing_use=True)

    photo.refresh_from_db()
    assert photo.marketing_use is False
    assert not AuditEvent.objects.filter(action="photo.marketing_flag").exists()


def test_with_marketing_consent_a_photo_is_marked_and_unmarked_with_audit(
    consent, photo_session, practitioner
):
    photo = add_photo(photo_session, practitioner)
    consent[Scope.MARKETING] = True

    photo_flag_marketing(actor=practitioner, photo=photo, marketing_use=True)
    photo.refresh_from_db()
    assert photo.marketing_use is True
    flagged = AuditEvent.objects.get(action="photo.marketing_flag")
    assert (flagged.before, flagged.after) == ({"marketing_use": False}, {"marketing_use": True})

    # Unmarking never needs consent: it is what a withdrawal calls for.
    consent[Scope.MARKETING] = False
    photo_flag_marketing(actor=practitioner, photo=photo, marketing_use=False)
    photo.refresh_from_db()
    assert photo.marketing_use is False
    assert AuditEvent.objects.filter(action="photo.marketing_unflag").count() == 1


def test_retiring_hides_the_photo_keeps_its_files_and_is_audited(consent, photo_session, practitioner):
    photo = add_photo(photo_session, practitioner)
    consent[Scope.MARKETING] = True
    photo_flag_marketing(actor=practitioner, photo=photo, marketing_use=True)

    with pytest.raises(ValidationError):
        photo_retire(actor=practitioner, photo=photo, reason="  ")
    photo_retire(actor=practitioner, photo=photo, reason="Wrong patient")

    photo.refresh_from_db()
    assert photo.retired_at is not None and photo.retired_by == practitioner
    assert photo.marketing_use is False
    assert not Photo.objects.active().exists()
    assert read_stored(photo.full_name)
    event = AuditEvent.objects.get(action="photo.retire")
    assert event.after["reason"] == "Wrong patient"


def test_withheld_only_without_photography_consent_and_never_from_managers(
    consent, photo_patient, practitioner, manager
):
    assert not services.photos_withheld(user=practitioner, patient=photo_patient)
    consent[Scope.PHOTOGRAPHY] = False
    assert services.photos_withheld(user=practitioner, patient=photo_patient)
    assert not services.photos_withheld(user=manager, patient=photo_patient)

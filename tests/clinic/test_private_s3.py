"""Private files in an S3 bucket (``PRIVATE_STORAGE=s3``), against moto's server mode.

The site talks HTTP to a local S3-compatible server exactly as it would to a real bucket: a
photo uploaded through the real form lands in the bucket and nowhere on disk, downloads stay
behind the role and location checks (streamed by default, or a short-lived signed URL), no
object gets a public grant, and an erasure deletes the objects.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import urllib.request
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from django.core.files.storage import storages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from clinic.files import store_private
from clinic.storage import PrivateS3Storage
from tests.clinic.test_settings import run_manage
from tests.treatments import test_photos as shared
from tests.treatments.factories import PatientFactory, SessionFactory, at, sign_consent
from tests.treatments.test_photos import add_photo, jpeg, stored_files
from treatments.models import SessionStatus
from treatments.photos.models import RENDITIONS, Photo
from treatments.photos.services import photo_retire
from treatments.rights.erasure import erasure_request_record

pytestmark = pytest.mark.django_db

consent = shared.consent
photo_patient = shared.photo_patient
photo_session = shared.photo_session

PUBLIC_GROUPS = (
    "http://acs.amazonaws.com/groups/global/AllUsers",
    "http://acs.amazonaws.com/groups/global/AuthenticatedUsers",
)


def keys(s3) -> set[str]:
    listing = s3.client.list_objects_v2(Bucket=s3.bucket)
    return {obj["Key"] for obj in listing.get("Contents", [])}


def object_bytes(s3, key: str) -> bytes:
    return s3.client.get_object(Bucket=s3.bucket, Key=key)["Body"].read()


def file_url(photo: Photo, rendition: str = "display") -> str:
    return reverse("photos:photo_file", args=[photo.pk, rendition])


@pytest.fixture
def photo(s3_private_storage, consent, photo_session, practitioner):
    return add_photo(photo_session, practitioner, content=jpeg(size=(2400, 1800)))


def test_the_private_storage_is_the_bucket_and_has_no_url(s3_private_storage):
    storage = storages["private"]
    assert isinstance(storage, PrivateS3Storage)
    assert storage.default_acl is None and storage.querystring_auth is True
    with pytest.raises(NotImplementedError):
        storage.url("photos/secret.jpg")


def test_a_photo_uploaded_through_the_form_lands_in_the_bucket_not_on_disk(
    s3_private_storage, _private_media, client_for, practitioner, photo_session, consent
):
    content = jpeg(size=(2400, 1800))
    response = client_for(practitioner).post(
        reverse("photos:upload", args=[photo_session.pk]),
        {
            "photos": [SimpleUploadedFile("IMG_0001.jpg", content, content_type="image/jpeg")],
            "tag": "before",
            "view": "front",
            "area": "",
        },
    )

    assert response.status_code == 302
    photo = Photo.objects.get()
    names = {getattr(photo, f"{r}_name") for r in RENDITIONS}
    assert keys(s3_private_storage) == names
    for rendition in RENDITIONS:
        stored = object_bytes(s3_private_storage, getattr(photo, f"{rendition}_name"))
        assert hashlib.sha256(stored).hexdigest() == getattr(photo, f"{rendition}_sha256")
    assert stored_files(_private_media) == []


def test_an_allowed_role_gets_the_bytes_streamed_with_the_private_headers(
    s3_private_storage, client_for, practitioner, photo
):
    response = client_for(practitioner).get(file_url(photo, "full"))

    assert response.status_code == 200
    assert response.streaming
    body = b"".join(response.streaming_content)
    assert body == object_bytes(s3_private_storage, photo.full_name)
    assert hashlib.sha256(body).hexdigest() == photo.full_sha256
    assert response["Content-Length"] == str(photo.full_size)
    assert response["Content-Type"] == "image/jpeg"
    assert response["Content-Disposition"].startswith("inline")
    assert response["Cache-Control"] == "private, no-store"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response["Content-Security-Policy"]


def test_other_roles_and_locations_are_refused_before_the_bucket_is_read(
    s3_private_storage, client_for, front_desk, other_manager, photo
):
    assert client_for(front_desk).get(file_url(photo)).status_code == 403
    assert client_for(other_manager).get(file_url(photo)).status_code == 404


def test_a_missing_object_is_not_found(s3_private_storage, client_for, practitioner, photo):
    s3_private_storage.client.delete_object(Bucket=s3_private_storage.bucket, Key=photo.display_name)
    with pytest.raises(FileNotFoundError):
        storages["private"].stream(photo.display_name)


def test_with_signed_delivery_an_allowed_role_is_sent_to_a_short_lived_url(
    s3_private_storage, settings, client_for, practitioner, front_desk, photo
):
    settings.PRIVATE_MEDIA_DELIVERY = "signed"

    response = client_for(practitioner).get(file_url(photo, "thumb"))

    assert response.status_code == 302
    assert response["Cache-Control"] == "private, no-store"
    query = parse_qs(urlsplit(response["Location"]).query)
    assert query["X-Amz-Expires"] == [str(settings.PRIVATE_SIGNED_URL_SECONDS)] == ["60"]
    assert "X-Amz-Signature" in query
    assert query["response-cache-control"] == ["private, no-store"]
    with urllib.request.urlopen(response["Location"], timeout=10) as fetched:  # noqa: S310 - local moto
        assert fetched.read() == object_bytes(s3_private_storage, photo.thumb_name)
        assert fetched.headers["Content-Disposition"].startswith("inline")
        assert fetched.headers["Cache-Control"] == "private, no-store"
    # The check still comes first: no URL at all for a refused role.
    refused = client_for(front_desk).get(file_url(photo, "thumb"))
    assert refused.status_code == 403 and "Location" not in refused


def test_no_object_has_a_public_grant(s3_private_storage, photo):
    stored = store_private(b"%PDF-1.4 test", folder="documents", kind="pdf")

    names = {photo.full_name, photo.display_name, photo.thumb_name, stored.name}
    assert names <= keys(s3_private_storage)
    for key in names:
        acl = s3_private_storage.client.get_object_acl(Bucket=s3_private_storage.bucket, Key=key)
        assert acl["Grants"], key
        for grant in acl["Grants"]:
            assert grant["Grantee"].get("URI") not in PUBLIC_GROUPS, (key, grant)
            assert grant["Grantee"]["Type"] == "CanonicalUser", (key, grant)
            assert grant["Grantee"]["ID"] == acl["Owner"]["ID"], (key, grant)


def test_an_erasure_deletes_the_objects_after_commit(
    s3_private_storage, location, practitioner, manager, django_capture_on_commit_callbacks
):
    day = at(dt.date(2026, 3, 10), 10)
    with time_machine.travel(day, tick=False):
        patient = PatientFactory(location=location, first_name="Dora")
        sign_consent(patient, practitioner, scope_photography=True)
        session = SessionFactory(
            patient=patient, practitioner=practitioner, status=SessionStatus.IN_TREATMENT
        )
        kept = add_photo(session, practitioner)
        retired = add_photo(session, practitioner)
        photo_retire(actor=practitioner, photo=retired, reason="Wrong angle")
        retired_names = {retired.full_name, retired.display_name, retired.thumb_name}
        assert retired_names <= keys(s3_private_storage)

        with django_capture_on_commit_callbacks(execute=True):
            erasure_request_record(
                actor=manager,
                patient=patient,
                received_on=day.date(),
                channel="email",
                erase_retired_photos=True,
            )

    remaining = keys(s3_private_storage)
    assert not retired_names & remaining
    assert kept.full_name in remaining


def test_the_environment_selects_the_bucket():
    result = run_manage(
        {
            "DEBUG": "true",
            "PRIVATE_STORAGE": "s3",
            "AWS_STORAGE_BUCKET_NAME": "clinic-private",
            "AWS_S3_ENDPOINT_URL": "http://127.0.0.1:9000",
            "AWS_S3_REGION_NAME": "eu-west-2",
            "AWS_S3_ADDRESSING_STYLE": "path",
            "AWS_LOCATION": "marylebone",
        },
        "shell",
        "-c",
        "from django.core.files.storage import storages as s; p = s['private']; "
        "print(type(p).__name__, p.bucket_name, p.endpoint_url, p.region_name, p.addressing_style, "
        "p.location, p.default_acl, p.querystring_auth, p.querystring_expire, s['default'] is not None)",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1].split() == [
        "PrivateS3Storage",
        "clinic-private",
        "http://127.0.0.1:9000",
        "eu-west-2",
        "path",
        "marylebone",
        "None",
        "True",
        "60",
        "True",
    ]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PRIVATE_STORAGE": "s3"}, "AWS_STORAGE_BUCKET_NAME is required"),
        (
            {
                "PRIVATE_STORAGE": "s3",
                "AWS_STORAGE_BUCKET_NAME": "clinic",
                "PRIVATE_MEDIA_ACCEL_REDIRECT": "/protected/",
            },
            "PRIVATE_MEDIA_ACCEL_REDIRECT",
        ),
        ({"PRIVATE_MEDIA_DELIVERY": "signed"}, "needs PRIVATE_STORAGE=s3"),
        ({"PRIVATE_STORAGE": "ftp"}, "must be local or s3"),
        (
            {"PRIVATE_STORAGE": "s3", "AWS_STORAGE_BUCKET_NAME": "clinic", "AWS_S3_ADDRESSING_STYLE": "x"},
            "must be path, virtual or auto",
        ),
    ],
    ids=["no-bucket", "accel-with-s3", "signed-without-s3", "unknown", "addressing"],
)
def test_a_storage_misconfiguration_stops_start_up(env, message):
    result = run_manage({"DEBUG": "true", **env}, "check")
    assert result.returncode != 0
    assert message in result.stderr

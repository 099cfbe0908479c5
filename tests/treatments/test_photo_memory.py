"""Photo processing cannot exhaust the server: bounded photos at once."""

from __future__ import annotations

import threading
import time
from unittest import mock

import pytest

from clinic.models import AuditEvent
from tests.treatments import test_photos as shared
from tests.treatments.test_photos import jpeg, stored_files, upload
from treatments.imaging import process_photo
from treatments.photos import processing
from treatments.photos.models import Photo
from treatments.photos.processing import BUSY, BUSY_MESSAGE, PhotoRejected, process_upload, processing_slot
from treatments.photos.services import photo_upload

consent = shared.consent
photo_patient = shared.photo_patient
photo_session = shared.photo_session


# --- photos at once: the gate -----------------------------------------------------------------


@pytest.fixture
def one_slot(settings):
    settings.PHOTO_PROCESSING_CONCURRENCY = 1
    settings.PHOTO_PROCESSING_WAIT_SECONDS = 10


def test_with_one_slot_a_second_photo_waits_until_the_first_is_done(one_slot):
    spy = mock.Mock(wraps=process_photo)
    results = []
    with mock.patch.object(processing, "process_photo", spy):
        with processing_slot():  # the first photo, still being processed
            second = threading.Thread(target=lambda: results.append(process_upload(jpeg())))
            second.start()
            second.join(timeout=0.3)
            assert second.is_alive(), "the second photo did not wait for the slot"
            spy.assert_not_called()
        second.join(timeout=10)

    assert not second.is_alive()
    spy.assert_called_once()
    assert results[0].source_format == "JPEG"


def test_no_more_photos_at_once_than_the_setting(settings):
    settings.PHOTO_PROCESSING_CONCURRENCY = 2
    with processing_slot(), processing_slot():
        with pytest.raises(PhotoRejected) as caught:
            process_upload(jpeg(), wait=False)
        assert caught.value.code == BUSY
    assert process_upload(jpeg(), wait=False).source_format == "JPEG"


def test_an_upload_that_waits_too_long_is_refused_and_nothing_is_stored(
    one_slot, settings, consent, photo_session, practitioner, _private_media
):
    settings.PHOTO_PROCESSING_WAIT_SECONDS = 0.05
    spy = mock.Mock(wraps=process_photo)

    with mock.patch.object(processing, "process_photo", spy), processing_slot():
        [outcome] = photo_upload(actor=practitioner, session=photo_session, uploads=[upload(jpeg())])

    assert not outcome.ok
    assert outcome.error == "The server is busy processing other photos; try again in a moment."
    assert outcome.code == BUSY
    spy.assert_not_called()  # not even read
    assert Photo.objects.count() == 0
    assert stored_files(_private_media) == []
    assert not AuditEvent.objects.filter(action="photo.upload").exists()
    # Only the gate refused it: with the slot free, the same upload is saved.
    [outcome] = photo_upload(actor=practitioner, session=photo_session, uploads=[upload(jpeg())])
    assert outcome.ok


def test_once_the_gate_refuses_a_file_the_rest_of_the_upload_does_not_wait_too(
    one_slot, settings, consent, photo_session, practitioner, _private_media
):
    wait = 0.4
    settings.PHOTO_PROCESSING_WAIT_SECONDS = wait

    started = time.monotonic()
    with processing_slot():
        outcomes = photo_upload(
            actor=practitioner, session=photo_session, uploads=[upload(jpeg()) for _ in range(3)]
        )
    elapsed = time.monotonic() - started

    assert [o.code for o in outcomes] == [BUSY, BUSY, BUSY]
    assert all(o.error == BUSY_MESSAGE for o in outcomes)
    # The first file waited its turn; had the others waited too, it would be 3 × 0.4 s.
    assert wait <= elapsed < 2.5 * wait
    assert Photo.objects.count() == 0
    assert stored_files(_private_media) == []

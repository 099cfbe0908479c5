"""Photo processing cannot exhaust the server: bounded memory per photo, bounded photos at once.

The memory bound is measured where it means something: in a fresh child process (its own
``VmHWM``, the high-water resident size since exec), processing a 59 MP JPEG the way an upload
arrives. That JPEG is made once per module, in a child too, so the test process never holds its
236 MB of pixels; the one test here that processes it in-process holds ~150 MB for a second.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path
from unittest import mock

import pytest
from PIL import ExifTags, Image, ImageFile, JpegImagePlugin

from clinic import imaging, imaging_gate
from clinic.imaging import MAX_PIXELS, process_photo
from clinic.imaging_gate import BUSY, BUSY_MESSAGE, PhotoRejected, process_upload, processing_slot
from clinic.models import AuditEvent
from tests.treatments import test_photos as shared
from tests.treatments.test_imaging import RED, assert_clean, bilevel_png, close_to, pixel
from tests.treatments.test_photos import jpeg, stored_files, upload
from treatments.photos.models import Photo
from treatments.photos.services import photo_upload

consent = shared.consent
photo_patient = shared.photo_patient
photo_session = shared.photo_session

ROOT = Path(__file__).resolve().parents[2]
BIG = (9408, 6272)  # 59 MP, 3:2
MEMORY_BOUND_MB = 200

# Writes a camera-like 59 MP JPEG (noise, so that it is ~15 MB like a real one, not a few
# hundred KB of flat colour) with a red block in the *stored* top-left corner and EXIF
# orientation 6 plus a GPS position. Tiling one noise tile is much faster than noise over the
# whole image and compresses no better: JPEG only sees 8×8 blocks.
MAKE_BIG_JPEG = """
import sys
from PIL import ExifTags, Image
width, height, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
tile = Image.merge("RGB", [Image.effect_noise((1024, 1024), 16).point(lambda v: v // 2 + 64 + 30 * k)
                           for k in range(3)])
image = Image.new("RGB", (width, height))
for x in range(0, width, 1024):
    for y in range(0, height, 1024):
        image.paste(tile, (x, y))
image.paste((220, 0, 0), (0, 0, width // 5, height // 5))
exif = Image.Exif()
exif[ExifTags.Base.Orientation] = 6
exif[ExifTags.IFD.GPSInfo] = {ExifTags.GPS.GPSLatitudeRef: "N", ExifTags.GPS.GPSLatitude: (51.0, 30.0, 26.0)}
image.save(path, "JPEG", quality=90, exif=exif)
"""

# Processes the file as the upload service does (a file on disk; Django keeps any upload over
# 5 MB in a temporary file) or from bytes, then prints this process's peak resident size.
MEASURE_PEAK = """
import sys
sys.path.insert(0, sys.argv[1])
from clinic.imaging import process_photo
path, how = sys.argv[2], sys.argv[3]
if how == "file":
    with open(path, "rb") as upload:
        photo = process_photo(upload)
else:
    photo = process_photo(open(path, "rb").read())
assert (photo.full.width, photo.full.height) == (2731, 4096), (photo.full.width, photo.full.height)
for line in open("/proc/self/status"):
    if line.startswith("VmHWM:"):
        print(int(line.split()[1]) // 1024)
"""


def run_python(code: str, *args: object) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.fixture(scope="module")
def big_jpeg(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("photos") / "59mp.jpg"
    run_python(MAKE_BIG_JPEG, *BIG, path)
    assert 8 * 1024 * 1024 < path.stat().st_size < imaging.MAX_UPLOAD_BYTES
    return path


# --- one photo: memory ------------------------------------------------------------------------


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads VmHWM from Linux's /proc")
@pytest.mark.parametrize("how", ["file", "bytes"])
def test_a_59_megapixel_jpeg_is_processed_in_under_200_mb(big_jpeg, how):
    peak_mb = int(run_python(MEASURE_PEAK, ROOT, big_jpeg, how))

    # Decoded whole it would be 236 MB of pixels before a single copy (bare Pillow: ~850 MB).
    assert peak_mb < MEMORY_BOUND_MB, f"peak {peak_mb} MB"


def test_a_large_jpeg_is_decoded_at_reduced_scale_and_its_renditions_are_right(big_jpeg, monkeypatch):
    decoded_sizes = []
    load = JpegImagePlugin.JpegImageFile.load

    def recording_load(self):
        decoded_sizes.append(self.size)
        return load(self)

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "load", recording_load)
    with big_jpeg.open("rb") as upload:
        photo = process_photo(upload)

    # Half scale is the smallest that still gives the full rendition its 4096 px.
    assert decoded_sizes[0] == (4704, 3136)
    # Orientation 6: stored landscape, shown portrait, the stored top-left corner at the top right.
    assert (photo.source_width, photo.source_height) == (6272, 9408)
    assert (photo.full.width, photo.full.height) == (2731, 4096)
    assert (photo.display.width, photo.display.height) == (1067, 1600)
    assert (photo.thumb.width, photo.thumb.height) == (213, 320)
    for rendition in photo.renditions.values():
        assert close_to(pixel(rendition, (rendition.width - 3, 3)), RED), rendition.width
        assert not close_to(pixel(rendition, (3, 3)), RED), rendition.width
    assert_clean(photo)  # no EXIF, GPS, ICC or comment; plain sRGB JPEGs
    with Image.open(big_jpeg) as original:  # the upload really had what had to go
        assert original.getexif()[ExifTags.Base.Orientation] == 6
        assert original.getexif().get_ifd(ExifTags.IFD.GPSInfo)


def test_a_png_over_the_pixel_limit_is_still_refused_before_decoding(monkeypatch):
    # PNG cannot be decoded at reduced scale, so the header's pixel count is all that protects
    # the worker: just over the limit must be refused without a single pixel decoded.
    side = int(MAX_PIXELS**0.5) + 1
    assert side * side > MAX_PIXELS
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: pytest.fail("decoded an oversized PNG"))

    with pytest.raises(PhotoRejected) as caught:
        process_upload(bilevel_png(side, side))

    assert caught.value.code == "too_many_pixels"


# --- photos at once: the gate -----------------------------------------------------------------


@pytest.fixture
def one_slot(settings):
    settings.PHOTO_PROCESSING_CONCURRENCY = 1
    settings.PHOTO_PROCESSING_WAIT_SECONDS = 10


def test_with_one_slot_a_second_photo_waits_until_the_first_is_done(one_slot):
    spy = mock.Mock(wraps=process_photo)
    results = []
    with mock.patch.object(imaging_gate, "process_photo", spy):
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

    with mock.patch.object(imaging_gate, "process_photo", spy), processing_slot():
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

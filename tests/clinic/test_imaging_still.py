"""Stills (document images, signatures) are re-encoded from their pixels, in their own format.

Pure unit tests of ``clinic.imaging.clean_still``: no database.
"""

from __future__ import annotations

import io

import pytest
from PIL import ExifTags, Image

from clinic.imaging import PhotoRejected, clean_still
from tests import hostile
from tests.treatments.test_imaging import bilevel_png, encode


def opened(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def test_a_webp_stays_a_webp_without_its_metadata():
    upload = encode(hostile.scan(), "WEBP", quality=95, exif=hostile.gps_exif(), xmp=hostile.XMP.encode())
    data = clean_still(upload)
    assert opened(data).format == "WEBP"
    for leftover in hostile.LEFTOVERS:
        assert leftover not in data
    assert b"EXIF" not in data and b"XMP " not in data


def test_the_exif_orientation_is_applied_to_the_pixels():
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6  # stored sideways: turn 90° clockwise to view
    data = clean_still(encode(hostile.scan((240, 160)), "JPEG", exif=exif))
    assert opened(data).size == (160, 240)


def test_greyscale_stays_greyscale_and_alpha_is_laid_on_white_for_jpeg():
    assert opened(clean_still(encode(hostile.scan().convert("L"), "PNG"))).mode == "L"
    assert opened(clean_still(encode(hostile.scan().convert("L"), "JPEG"))).mode == "L"
    assert opened(clean_still(encode(hostile.scan().convert("P"), "PNG"))).mode == "RGB"


def test_only_the_formats_asked_for_are_decoded():
    with pytest.raises(PhotoRejected) as caught:
        clean_still(hostile.hostile_jpeg(), formats=("PNG",))
    assert caught.value.code == "unsupported"
    with pytest.raises(PhotoRejected):
        clean_still(b"GIF89a" + b"\x00" * 100)


def test_a_bomb_is_refused_from_its_header():
    with pytest.raises(PhotoRejected) as caught:
        clean_still(bilevel_png(9000, 9000), max_pixels=40_000_000)
    assert caught.value.code == "too_many_pixels"


def test_a_truncated_image_is_refused():
    with pytest.raises(PhotoRejected) as caught:
        clean_still(encode(hostile.scan(), "PNG")[:200])
    assert caught.value.code == "unreadable"

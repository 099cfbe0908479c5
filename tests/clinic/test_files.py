from __future__ import annotations

import hashlib
import io

import pytest
from django.core.exceptions import ValidationError
from django.core.files.storage import storages
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from clinic.files import private_file_response, read_checked, store_private
from tests import hostile
from tests.hostile import real_pdf

MB = 1024 * 1024
PDF = real_pdf()


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buf, "PNG")
    return buf.getvalue()


def _upload(data: bytes, name: str) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data)


def test_a_pdf_and_a_png_are_accepted_by_content():
    assert read_checked(_upload(PDF, "cert.pdf"), allowed={"pdf", "png"}, max_bytes=MB)[1] == "pdf"
    assert read_checked(_upload(_png(), "cert.pdf"), allowed={"pdf", "png"}, max_bytes=MB)[1] == "png"


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (b"<html><script>alert(1)</script></html>", "certificate.pdf"),
        (b"<?php system($_GET['c']); ?>", "scan.jpg.php"),
        (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "logo.png"),
        (b"GIF89a....", "scan.png"),
    ],
)
def test_anything_else_is_refused_whatever_its_name(data, name):
    with pytest.raises(ValidationError, match="checked by its content"):
        read_checked(_upload(data, name), allowed={"pdf", "jpeg", "png"}, max_bytes=MB)


def test_a_damaged_image_or_pdf_is_refused():
    with pytest.raises(ValidationError, match="damaged"):
        read_checked(_upload(_png()[:40], "x.png"), allowed={"png"}, max_bytes=MB)
    with pytest.raises(ValidationError, match="PDF is incomplete or damaged"):
        read_checked(_upload(b"%PDF-1.7\nhalf a file", "x.pdf"), allowed={"pdf"}, max_bytes=MB)


def test_size_is_checked_before_reading():
    big = _upload(b"%PDF-" + b"0" * (2 * MB), "big.pdf")
    with pytest.raises(ValidationError, match="larger than 1 MB"):
        read_checked(big, allowed={"pdf"}, max_bytes=MB)


def test_an_empty_file_is_refused():
    with pytest.raises(ValidationError, match="empty"):
        read_checked(_upload(b"", "x.pdf"), allowed={"pdf"}, max_bytes=MB)


def test_stored_files_get_server_chosen_names_and_their_hash(_private_media):
    stored = store_private(PDF, folder="documents", kind="pdf")
    assert stored.name.startswith("documents/") and stored.name.endswith(".pdf")
    assert stored.sha256 == hashlib.sha256(PDF).hexdigest()
    assert storages["private"].open(stored.name).read() == PDF


def test_the_response_is_an_uncached_attachment(_private_media):
    stored = store_private(PDF, folder="documents", kind="pdf")
    response = private_file_response(
        name=stored.name, download_name='CE "cert"; x.pdf', content_type="application/pdf"
    )
    assert response["Cache-Control"] == "private, no-store"
    assert response["Content-Disposition"].startswith("attachment;")
    assert '"cert";' not in response["Content-Disposition"]
    assert b"".join(response.streaming_content) == PDF


def test_nginx_can_take_over_the_transfer(settings, _private_media):
    settings.PRIVATE_MEDIA_ACCEL_REDIRECT = "/protected/"
    stored = store_private(PDF, folder="documents", kind="pdf")
    response = private_file_response(name=stored.name, download_name="c.pdf", content_type="application/pdf")
    assert response["X-Accel-Redirect"] == "/protected/" + stored.name
    assert response.content == b""


def test_an_image_claiming_too_many_pixels_is_refused_before_decoding():
    buf = io.BytesIO()
    Image.new("1", (9000, 9000), 0).save(buf, "PNG")  # tiny on disk, 81 MP decoded
    assert len(buf.getvalue()) < 200_000
    with pytest.raises(ValidationError, match="megapixels"):
        read_checked(_upload(buf.getvalue(), "sig.png"), allowed={"png"}, max_bytes=MB)
    with pytest.raises(ValidationError, match="megapixels"):
        read_checked(_upload(_png(), "sig.png"), allowed={"png"}, max_bytes=MB, max_pixels=10)


# --- images are stored re-encoded: metadata and trailing bytes gone (issue 17, item 5) ---------


def test_a_jpeg_is_returned_re_encoded_without_gps_xmp_comment_or_trailing_php():
    upload = hostile.hostile_jpeg()
    assert hostile.PHP in upload and hostile.SCRIPT.encode() in upload and b"GPS" in upload
    data, kind = read_checked(_upload(upload, "scan.jpg"), allowed={"jpeg"}, max_bytes=MB)
    assert kind == "jpeg"
    hostile.assert_clean_image(data)
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "JPEG" and image.size == (240, 160)
        assert image.getpixel((120, 20)) < (40, 40, 40)  # the black heading is still there


def test_a_png_is_returned_re_encoded_without_text_chunks_gps_or_trailing_php():
    data, kind = read_checked(_upload(hostile.hostile_png(), "scan.png"), allowed={"png"}, max_bytes=MB)
    assert kind == "png"
    hostile.assert_clean_image(data)
    with Image.open(io.BytesIO(data)) as image:
        # Lossless: the pixels are exactly the scan's.
        assert image.convert("RGB").tobytes() == hostile.scan().tobytes()


def test_a_signature_keeps_its_transparency():
    data, _kind = read_checked(
        _upload(hostile.hostile_signature_png(), "sig.png"), allowed={"png"}, max_bytes=MB
    )
    hostile.assert_clean_image(data)
    with Image.open(io.BytesIO(data)) as image:
        assert image.mode == "RGBA"
        assert image.getpixel((0, 0))[3] == 0
        assert image.tobytes() == hostile.signature_image().tobytes()


def test_a_busy_server_refuses_the_image_with_a_message(settings):
    from clinic.imaging_gate import processing_slot

    settings.PHOTO_PROCESSING_CONCURRENCY = 1
    settings.PHOTO_PROCESSING_WAIT_SECONDS = 0
    with processing_slot(), pytest.raises(ValidationError, match="busy"):
        read_checked(_upload(_png(), "x.png"), allowed={"png"}, max_bytes=MB)


def test_a_hostile_pdf_is_refused_with_the_reason():
    with pytest.raises(ValidationError, match="JavaScript"):
        read_checked(
            _upload(hostile.pdf_with_javascript_open_action(), "coa.pdf"), allowed={"pdf"}, max_bytes=MB
        )
    with pytest.raises(ValidationError, match="web-page code"):
        read_checked(_upload(hostile.HTML_BETWEEN_MARKERS, "coa.pdf"), allowed={"pdf"}, max_bytes=MB)

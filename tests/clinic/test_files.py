from __future__ import annotations

import hashlib
import io

import pytest
from django.core.exceptions import ValidationError
from django.core.files.storage import storages
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from clinic.files import private_file_response, read_checked, store_private

MB = 1024 * 1024
PDF = b"%PDF-1.7\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


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
    with pytest.raises(ValidationError, match="incomplete or damaged PDF"):
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

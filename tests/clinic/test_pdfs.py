"""Uploaded PDFs are parsed, and kept only when they are real, readable and inert.

Every sample is built in code (pypdf or plain bytes, ``tests/hostile.py``). Pure unit tests:
no database.
"""

from __future__ import annotations

import pytest

from clinic.pdfs import PdfRejected, PdfSummary, check_pdf
from tests import hostile


def refusal(data: bytes, **limits: float) -> PdfRejected:
    with pytest.raises(PdfRejected) as caught:
        check_pdf(data, **limits)  # type: ignore[arg-type]
    return caught.value


def test_a_real_pdf_is_accepted():
    assert check_pdf(hostile.real_pdf(pages=3)) == PdfSummary(pages=3, objects=6)


def test_a_pdf_with_text_and_a_web_link_is_accepted():
    assert check_pdf(hostile.pdf_with_text()).pages == 1
    assert check_pdf(hostile.pdf_with_link("https://supplier.example/certificates/CE-123")).pages == 1
    assert check_pdf(hostile.pdf_with_link("mailto:qa@supplier.example")).pages == 1


def test_the_demo_documents_are_accepted():
    from products.demo import demo_pdf

    assert check_pdf(demo_pdf("CE certificate")).pages == 1


def test_html_between_the_markers_is_refused():
    # The review's 54 bytes: starts with %PDF-, ends with %%EOF, is a web page.
    assert refusal(hostile.HTML_BETWEEN_MARKERS).code == "not_pdf"


def test_html_between_the_markers_is_refused_by_the_parser_too():
    # Past the first kilobyte, where sniffers stop looking: no cross-reference, no catalog, no page.
    data = b"%PDF-1.7\n%" + b"x" * 1100 + b"\n<html><script>alert(1)</script></html>\n%%EOF\n"
    error = refusal(data)
    assert error.code == "not_pdf"
    assert "not a readable PDF" in error.message


@pytest.mark.parametrize(
    "data",
    [
        b"%PDF-1.4\n1 0 obj <</Type /Catalog>> endobj\ntrailer <</Root 1 0 R>>\n%%EOF\n",  # no pages
        b"%PDF-1.7\n" + bytes(range(256)) * 20 + b"\n%%EOF\n",  # garbage
        hostile.pdf_with_text()[:300] + b"\n%%EOF\n",  # cut short, an end marker glued on
        b"GIF89a%PDF-1.7\n%%EOF",  # not even the header
    ],
    ids=["no-pages", "garbage", "truncated-with-eof", "no-header"],
)
def test_what_is_not_a_readable_pdf_is_refused(data):
    assert refusal(data).code == "not_pdf"


def test_a_truncated_pdf_is_refused():
    error = refusal(hostile.pdf_with_text()[:-100])
    assert error.code == "not_pdf"
    assert "incomplete or damaged" in error.message


def test_data_after_the_end_is_refused():
    error = refusal(hostile.real_pdf() + hostile.PHP)
    assert "data after its end" in error.message
    # White space and NULs after %%EOF are what real generators leave: accepted.
    assert check_pdf(hostile.real_pdf() + b"\r\n\x00\x00\n").pages == 1


def test_a_pdf_with_a_javascript_open_action_is_refused():
    error = refusal(hostile.pdf_with_javascript_open_action())
    assert error.code == "active"
    assert "JavaScript" in error.message


def test_document_level_javascript_is_refused():
    assert "JavaScript" in refusal(hostile.pdf_with_named_javascript()).message


def test_an_action_that_runs_when_a_page_opens_is_refused():
    assert "actions that run by themselves" in refusal(hostile.pdf_with_page_additional_action()).message


def test_a_launch_action_is_refused():
    error = refusal(hostile.pdf_with_launch())
    assert error.code == "active"
    assert "starts a program" in error.message


def test_an_embedded_file_is_refused():
    error = refusal(hostile.pdf_with_embedded_file())
    assert error.code == "active"
    assert "embedded file" in error.message


def test_an_xfa_form_is_refused():
    assert "XFA" in refusal(hostile.pdf_with_xfa()).message


@pytest.mark.parametrize(
    "uri", ["javascript:app.alert(1)", "file:///C:/Windows/System32/calc.exe", "smb://x/y"]
)
def test_a_link_that_is_not_web_or_email_is_refused(uri):
    assert "not a web or email address" in refusal(hostile.pdf_with_link(uri)).message


def test_javascript_that_nothing_refers_to_is_still_found():
    assert "JavaScript" in refusal(hostile.pdf_with_unreferenced_javascript()).message


def test_an_encrypted_pdf_is_refused():
    error = refusal(hostile.encrypted_pdf())
    assert error.code == "encrypted"
    assert "unprotected PDF" in error.message


def test_the_work_is_bounded():
    many = hostile.real_pdf(pages=300)
    assert refusal(many, max_pages=100).code == "too_complex"
    assert refusal(many, max_objects=50).code == "too_complex"
    assert refusal(many, max_seconds=0).code == "too_complex"
    assert check_pdf(many).pages == 300


def test_whatever_pypdf_raises_is_a_refusal(monkeypatch):
    import clinic.pdfs

    def explode(*args, **kwargs):
        raise RecursionError("absurdly nested")

    monkeypatch.setattr(clinic.pdfs, "PdfReader", explode)
    assert refusal(hostile.real_pdf()).code == "not_pdf"

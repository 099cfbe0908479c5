"""Hostile uploads, built in code (no binary fixtures), and checks that nothing of them survived.

The samples follow what an outside review of uploads found getting through (issue 17, item 5):
HTML between ``%PDF-`` and ``%%EOF``, a PDF that runs JavaScript when opened, JPEGs carrying
GPS, XMP, a ``<script>`` comment and a trailing ``<?php``, and a signature PNG with a script
text chunk and GPS.
"""

from __future__ import annotations

import base64
import io
import struct
import zlib

from PIL import ExifTags, Image, ImageDraw
from PIL.PngImagePlugin import PngInfo
from pypdf import PdfWriter
from pypdf.annotations import Link
from pypdf.generic import (
    ArrayObject,
    DictionaryObject,
    FloatObject,
    NameObject,
    NumberObject,
    PdfObject,
    TextStringObject,
)

SCRIPT = "<script>alert(document.cookie)</script>"
PHP = b"<?php system($_GET['c']); ?>"
GPS_AREA = "HOSTILE-GPS-AREA"
XMP_MARKER = "HOSTILE-XMP-MARKER"
XMP = (
    '<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?>'
    '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    '<rdf:Description rdf:about="" xmlns:exif="http://ns.adobe.com/exif/1.0/"'
    ' xmlns:dc="http://purl.org/dc/elements/1.1/" exif:GPSLatitude="51,30.5N">'
    f"<dc:description>{XMP_MARKER}</dc:description>"
    '</rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
)
#: Byte strings none of which may be in a stored file made from a hostile sample.
LEFTOVERS = (
    SCRIPT.encode(),
    b"<script",
    PHP,
    b"<?php",
    GPS_AREA.encode(),
    XMP_MARKER.encode(),
    b"http://ns.adobe.com/xap",
    b"Exif\x00",
    b"GPS",
)

# --- images -----------------------------------------------------------------------------------


def gps_exif() -> Image.Exif:
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "PhoneCo"
    exif[ExifTags.IFD.GPSInfo] = {
        ExifTags.GPS.GPSLatitudeRef: "N",
        ExifTags.GPS.GPSLatitude: (51.0, 30.0, 26.0),
        ExifTags.GPS.GPSLongitudeRef: "W",
        ExifTags.GPS.GPSLongitude: (0.0, 7.0, 39.0),
        ExifTags.GPS.GPSAreaInformation: GPS_AREA,
    }
    return exif


def scan(size: tuple[int, int] = (240, 160)) -> Image.Image:
    """A stand-in for a scanned certificate: white page, a black heading bar, a red stamp."""
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    draw.rectangle((10, 10, size[0] - 10, 30), fill="black")
    draw.ellipse((size[0] - 70, size[1] - 70, size[0] - 10, size[1] - 10), fill=(200, 0, 0))
    return image


def hostile_jpeg() -> bytes:
    """A JPEG with GPS in its EXIF, XMP, a ``<script>`` comment and ``<?php`` after its end."""
    buffer = io.BytesIO()
    scan().save(buffer, "JPEG", quality=95, exif=gps_exif(), xmp=XMP.encode(), comment=SCRIPT)
    return buffer.getvalue() + PHP


def hostile_png(image: Image.Image | None = None) -> bytes:
    """A PNG with a ``<script>`` tEXt chunk, compressed and international text, XMP, GPS EXIF,
    and ``<?php`` after its IEND."""
    info = PngInfo()
    info.add_text("Comment", SCRIPT)
    info.add_text("Description", SCRIPT, zip=True)
    info.add_itxt("XML:com.adobe.xmp", XMP)
    buffer = io.BytesIO()
    (image or scan()).save(buffer, "PNG", pnginfo=info, exif=gps_exif())
    return buffer.getvalue() + PHP


def signature_image() -> Image.Image:
    """Ink on a transparent pad, as the signature pad draws it."""
    image = Image.new("RGBA", (400, 120), (0, 0, 0, 0))
    ImageDraw.Draw(image).line([(20, 90), (120, 30), (220, 90), (380, 40)], fill=(10, 10, 60, 255), width=4)
    return image


def hostile_signature_png() -> bytes:
    return hostile_png(signature_image())


def data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


def png_chunks(data: bytes) -> list[bytes]:
    """The chunk types of a PNG, in order; asserts that nothing follows IEND."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    kinds, position = [], 8
    while position < len(data):
        (length,) = struct.unpack_from(">I", data, position)
        kind = data[position + 4 : position + 8]
        payload = data[position + 8 : position + 8 + length]
        (crc,) = struct.unpack_from(">I", data, position + 8 + length)
        assert crc == zlib.crc32(kind + payload), kind
        kinds.append(kind)
        position += 12 + length
        if kind == b"IEND":
            assert position == len(data), "bytes after IEND"
    return kinds


def jpeg_segments(data: bytes) -> list[int]:
    """Marker bytes of a JPEG's header segments up to the scan; asserts it ends at its EOI."""
    assert data[:2] == b"\xff\xd8", "not a JPEG"
    assert data.endswith(b"\xff\xd9"), "bytes after the end of the image"
    markers, position = [], 2
    while True:
        marker = data[position + 1]
        markers.append(marker)
        if marker == 0xDA:
            return markers
        (length,) = struct.unpack_from(">H", data, position + 2)
        position += 2 + length


def assert_clean_image(data: bytes) -> None:
    """No metadata, text, script or trailing bytes: only what it takes to draw the pixels."""
    for leftover in LEFTOVERS:
        assert leftover not in data, leftover
    with Image.open(io.BytesIO(data)) as image:
        assert len(image.getexif()) == 0
        for key in ("exif", "xmp", "XML:com.adobe.xmp", "comment", "Comment", "Description", "icc_profile"):
            assert key not in image.info, key
        image.load()
        fmt = image.format
    if fmt == "PNG":
        assert set(png_chunks(data)) <= {b"IHDR", b"IDAT", b"IEND"}, png_chunks(data)
    elif fmt == "JPEG":
        # JFIF, quantisation and Huffman tables, frame header, restart interval, scan: no APP1
        # (EXIF, XMP), APP2 (ICC) or COM segment.
        allowed = {0xE0, 0xDB, 0xC4, 0xC0, 0xC2, 0xDD, 0xDA}
        assert set(jpeg_segments(data)) <= allowed, [hex(m) for m in jpeg_segments(data)]
    else:  # pragma: no cover - the samples are JPEG and PNG
        raise AssertionError(f"unexpected format {fmt}")


# --- PDFs -------------------------------------------------------------------------------------

#: 54 bytes of web page between the markers, as the review sent it.
HTML_BETWEEN_MARKERS = b"%PDF-<html><script>alert(document.title)</script>%%EOF"
assert len(HTML_BETWEEN_MARKERS) == 54


def _write(writer: PdfWriter) -> bytes:
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def _writer(pages: int = 1) -> PdfWriter:
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=595, height=842)
    return writer


def real_pdf(pages: int = 1) -> bytes:
    """A plain PDF made by pypdf: blank A4 pages, nothing else."""
    return _write(_writer(pages))


def _action(kind: str, **entries: PdfObject) -> DictionaryObject:
    action = DictionaryObject(
        {NameObject("/Type"): NameObject("/Action"), NameObject("/S"): NameObject(kind)}
    )
    for key, value in entries.items():
        action[NameObject(f"/{key}")] = value  # type: ignore[assignment]
    return action


def pdf_with_open_action(action: DictionaryObject) -> bytes:
    writer = _writer()
    writer.root_object[NameObject("/OpenAction")] = writer._add_object(action)
    return _write(writer)


def pdf_with_javascript_open_action() -> bytes:
    return pdf_with_open_action(_action("/JavaScript", JS=TextStringObject("app.alert('hi');")))


def pdf_with_launch() -> bytes:
    return pdf_with_open_action(_action("/Launch", F=TextStringObject("C:\\Windows\\System32\\calc.exe")))


def pdf_with_named_javascript() -> bytes:
    """Document-level JavaScript in the names tree, as pypdf's own ``add_open_action`` writes it."""
    from pypdf.actions import JavaScript

    writer = _writer()
    writer.add_open_action(JavaScript("app.alert('hi');"))
    return _write(writer)


def pdf_with_page_additional_action() -> bytes:
    """JavaScript that runs when the page opens (``/AA /O`` on the page)."""
    writer = _writer()
    page = writer.pages[0]
    page[NameObject("/AA")] = DictionaryObject(
        {NameObject("/O"): _action("/JavaScript", JS=TextStringObject("app.alert('hi');"))}
    )
    return _write(writer)


def pdf_with_link(uri: str) -> bytes:
    writer = _writer()
    writer.add_annotation(page_number=0, annotation=Link(rect=(50, 50, 200, 80), url=uri))
    return _write(writer)


def pdf_with_embedded_file() -> bytes:
    writer = _writer()
    writer.add_attachment("invoice.exe", b"MZ\x90\x00 not really a program")
    return _write(writer)


def pdf_with_xfa() -> bytes:
    writer = _writer()
    writer.root_object[NameObject("/AcroForm")] = DictionaryObject(
        {NameObject("/Fields"): ArrayObject(), NameObject("/XFA"): TextStringObject("<xdp:xdp/>")}
    )
    return _write(writer)


def pdf_with_unreferenced_javascript() -> bytes:
    """A JavaScript action that nothing refers to: a repairing viewer might still find it."""
    writer = _writer()
    writer._add_object(_action("/JavaScript", JS=TextStringObject("app.alert('hi');")))
    return _write(writer)


def encrypted_pdf() -> bytes:
    writer = _writer()
    writer.encrypt(user_password="", owner_password="owner")
    return _write(writer)


def pdf_with_text(text: str = "Certificate of analysis") -> bytes:
    """A one-page PDF that shows ``text`` (a real content stream and font), as a supplier's would."""
    from pypdf.generic import DecodedStreamObject

    writer = _writer()
    page = writer.pages[0]
    font = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Font"),
            NameObject("/Subtype"): NameObject("/Type1"),
            NameObject("/BaseFont"): NameObject("/Helvetica"),
        }
    )
    page[NameObject("/Resources")] = DictionaryObject(
        {NameObject("/Font"): DictionaryObject({NameObject("/F1"): writer._add_object(font)})}
    )
    content = DecodedStreamObject()
    content.set_data(f"BT /F1 14 Tf 50 780 Td ({text}) Tj ET".encode("latin-1"))
    page[NameObject("/Contents")] = writer._add_object(content)
    page[NameObject("/MediaBox")] = ArrayObject(
        [NumberObject(0), NumberObject(0), FloatObject(595), FloatObject(842)]
    )
    return _write(writer)

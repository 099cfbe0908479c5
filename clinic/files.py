"""Private files: checked by content and cleaned, stored under server-chosen names, served after a check.

Used by regulatory documents, clinical photos and consent signatures. Nothing here knows
who may see a file: the calling view checks role and location first, then calls
``private_file_response``.
"""

from __future__ import annotations

import hashlib
import logging
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import IO, TypeVar

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile, File
from django.core.files.storage import storages
from django.http import FileResponse, HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.utils import timezone

from clinic.imaging_gate import BUSY, PhotoRejected, clean_image
from clinic.pdfs import PdfRejected, check_pdf
from clinic.storage import PrivateS3Storage

logger = logging.getLogger(__name__)
_R = TypeVar("_R", bound=HttpResponseBase)

# Magic numbers of the formats we accept, by content never by name.
SIGNATURES: dict[str, tuple[bytes, ...]] = {
    "pdf": (b"%PDF-",),
    "jpeg": (b"\xff\xd8\xff",),
    "png": (b"\x89PNG\r\n\x1a\n",),
}
CONTENT_TYPES = {"pdf": "application/pdf", "jpeg": "image/jpeg", "png": "image/png"}
EXTENSIONS = {"pdf": ".pdf", "jpeg": ".jpg", "png": ".png", "text": ".txt"}


@dataclass(frozen=True)
class StoredFile:
    name: str
    sha256: str
    size: int
    kind: str

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES.get(self.kind, "application/octet-stream")


def sniff(head: bytes) -> str | None:
    for kind, magics in SIGNATURES.items():
        if any(head.startswith(m) for m in magics):
            return kind
    return None


# A scanned certificate or a drawn signature needs far fewer pixels; a small compressed file
# that claims more is a decompression bomb (a 9000×9000 blank PNG is 300 KB but 300 MB+ decoded).
DEFAULT_MAX_PIXELS = 40_000_000


def read_checked(
    upload: IO[bytes],
    *,
    allowed: set[str],
    max_bytes: int,
    label: str = "file",
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> tuple[bytes, str]:
    """Read an upload (at most ``max_bytes``), check its real type and return what to store.

    Raises ``ValidationError`` with a message for the user when the file is refused. What is
    returned is never the upload's bytes unchecked:

    * an image (JPEG, PNG) is decoded and re-encoded from its pixels in its own format
      (``clinic.imaging_gate.clean_image``, in one of the process's decoding slots): no EXIF or
      GPS, XMP, comment, text chunk or ICC profile survives, nor anything after the image's end.
      Its pixel count is checked from the header before any decoding;
    * a PDF is parsed (``clinic.pdfs.check_pdf``) and kept byte for byte only if it is a real,
      unencrypted PDF with no JavaScript, automatic or launch actions, embedded files or XFA.

    Call it before the transaction that records the file: the decoding is CPU work, and a
    refused file must write nothing.
    """
    size = getattr(upload, "size", None)
    limit_mb = max_bytes // (1024 * 1024)
    if size is not None and size > max_bytes:
        raise ValidationError(f"The {label} is larger than {limit_mb} MB.")
    if hasattr(upload, "seek"):
        upload.seek(0)
    data = upload.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ValidationError(f"The {label} is larger than {limit_mb} MB.")
    if not data:
        raise ValidationError(f"The {label} is empty.")
    kind = sniff(data[:16])
    if kind not in allowed:
        names = ", ".join(sorted(k.upper() for k in allowed))
        raise ValidationError(f"The {label} is not a {names} file (checked by its content, not its name).")
    if kind == "pdf":
        _check_pdf(data)
        return data, kind
    return _clean_image(data, kind, label, max_bytes, max_pixels), kind


def _check_pdf(data: bytes) -> None:
    try:
        check_pdf(data)
    except PdfRejected as exc:
        raise ValidationError(exc.message, code=exc.code) from None


def _clean_image(data: bytes, kind: str, label: str, max_bytes: int, max_pixels: int) -> bytes:
    try:
        return clean_image(data, formats=(_PILLOW_FORMATS[kind],), max_bytes=max_bytes, max_pixels=max_pixels)
    except PhotoRejected as exc:
        if exc.code == BUSY:
            message = "The server is busy processing other uploads; try again in a moment."
        elif exc.code == "too_many_pixels":
            message = (
                f"The {label} has too many pixels: at most {max_pixels // 1_000_000} megapixels are accepted."
            )
        else:
            message = f"The {label} is a damaged or unreadable image."
        raise ValidationError(message, code=exc.code) from None


_PILLOW_FORMATS = {"jpeg": "JPEG", "png": "PNG"}


def store_private(data: bytes, *, folder: str, kind: str) -> StoredFile:
    """Write bytes under a server-chosen name in the private storage."""
    saved = storages["private"].save(private_name(folder, kind), ContentFile(data))
    return StoredFile(name=saved, sha256=hashlib.sha256(data).hexdigest(), size=len(data), kind=kind)


def delete_private(name: str) -> None:
    """Delete a stored file whose row did not commit (best effort: the original error matters more)."""
    try:
        storages["private"].delete(name)
    except Exception:  # pragma: no cover - a storage failing twice in a row
        logger.exception("could not delete orphaned private file %s", name)


def store_private_stream(fileobj, *, folder: str, kind: str) -> str:
    """Copy a file object, chunk by chunk, under a server-chosen name in the private storage
    (a large upload is never read whole). Returns the stored name."""
    fileobj.seek(0)
    return storages["private"].save(private_name(folder, kind), File(fileobj))


def private_name(folder: str, kind: str) -> str:
    if not re.fullmatch(r"[a-z0-9_/-]+", folder):
        raise ValueError("folder must be a plain relative path")
    return f"{folder}/{timezone.now():%Y/%m}/{uuid.uuid4().hex}{EXTENSIONS.get(kind, '.bin')}"


def _safe_download_name(name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9._ -]+", "_", name).strip() or "file"
    return cleaned[:120]


def private_file_response(
    *, name: str, download_name: str, content_type: str, as_attachment: bool = True
) -> HttpResponseBase:
    """Stream a private file (or hand it to nginx, or to S3) with headers that keep it out of caches.

    Only after the calling view has checked the user. Four ways out, by settings:

    * behind nginx (``PRIVATE_MEDIA_ACCEL_REDIRECT``): an empty answer whose ``X-Accel-Redirect``
      names the file, which nginx sends from its internal location;
    * from an S3 bucket, streamed (the default): one GET, copied in chunks, never held whole;
    * from an S3 bucket, signed (``PRIVATE_MEDIA_DELIVERY=signed``): a 302 to a URL good for
      ``PRIVATE_SIGNED_URL_SECONDS`` for this object only;
    * from the local folder: a ``FileResponse``.
    """
    response: HttpResponseBase
    storage = storages["private"]
    disposition = "attachment" if as_attachment else "inline"
    content_disposition = f'{disposition}; filename="{_safe_download_name(download_name)}"'
    if settings.PRIVATE_MEDIA_ACCEL_REDIRECT:
        response = HttpResponse(content_type=content_type)
        response["X-Accel-Redirect"] = settings.PRIVATE_MEDIA_ACCEL_REDIRECT.rstrip("/") + "/" + name
        response["Content-Disposition"] = content_disposition
    elif isinstance(storage, PrivateS3Storage) and settings.PRIVATE_MEDIA_DELIVERY == "signed":
        response = HttpResponseRedirect(
            storage.signed_url(
                name,
                expire=settings.PRIVATE_SIGNED_URL_SECONDS,
                content_type=content_type,
                content_disposition=content_disposition,
            )
        )
    elif isinstance(storage, PrivateS3Storage):
        stream = storage.stream(name)
        response = StreamingHttpResponse(stream.chunks, content_type=content_type)
        response["Content-Length"] = str(stream.size)
        response["Content-Disposition"] = content_disposition
    else:
        response = FileResponse(
            storage.open(name, "rb"),
            as_attachment=as_attachment,
            filename=_safe_download_name(download_name),
            content_type=content_type,
        )
    return _private_headers(response)


def private_stream_response(
    chunks: Iterable[bytes], *, download_name: str, content_type: str
) -> StreamingHttpResponse:
    """Stream generated private content (e.g. a patient's data export) as a download."""
    response = StreamingHttpResponse(chunks, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{_safe_download_name(download_name)}"'
    return _private_headers(response)


def _private_headers(response: _R) -> _R:
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    # Even opened directly, the file runs no script and embeds nothing.
    response["Content-Security-Policy"] = "default-src 'none'; img-src 'self'; sandbox"
    return response

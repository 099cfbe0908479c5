"""Private files: checked by content, stored under server-chosen names, served after a check.

Used by regulatory documents, clinical photos and consent signatures. Nothing here knows
who may see a file: the calling view checks role and location first, then calls
``private_file_response``.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import IO, TypeVar

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile, File
from django.core.files.storage import storages
from django.http import FileResponse, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.utils import timezone

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
    """Read an upload (at most ``max_bytes``) and check its real type; ValidationError if not.

    Images are also checked for their pixel count from the header, before any decoding.
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
    if kind == "pdf" and b"%%EOF" not in data[-2048:]:
        raise ValidationError(f"The {label} is an incomplete or damaged PDF.")
    if kind in ("jpeg", "png"):
        _verify_image(data, label, max_pixels)
    return data, kind


def _verify_image(data: bytes, label: str, max_pixels: int) -> None:
    import io
    import warnings

    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=["JPEG", "PNG"]) as image:
                width, height = image.size
                if width * height > max_pixels:
                    raise ValidationError(
                        f"The {label} is {width}×{height} pixels; at most {max_pixels // 1_000_000} "
                        "megapixels are accepted."
                    )
                image.verify()
    except ValidationError:
        raise
    except Exception:
        raise ValidationError(f"The {label} is a damaged or unreadable image.") from None


def store_private(data: bytes, *, folder: str, kind: str) -> StoredFile:
    """Write bytes under a server-chosen name in the private storage."""
    saved = storages["private"].save(private_name(folder, kind), ContentFile(data))
    return StoredFile(name=saved, sha256=hashlib.sha256(data).hexdigest(), size=len(data), kind=kind)


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
    """Stream a private file (or hand it to nginx) with headers that keep it out of caches."""
    response: HttpResponseBase
    if settings.PRIVATE_MEDIA_ACCEL_REDIRECT:
        response = HttpResponse(content_type=content_type)
        response["X-Accel-Redirect"] = settings.PRIVATE_MEDIA_ACCEL_REDIRECT.rstrip("/") + "/" + name
        disposition = "attachment" if as_attachment else "inline"
        response["Content-Disposition"] = f'{disposition}; filename="{_safe_download_name(download_name)}"'
    else:
        response = FileResponse(
            storages["private"].open(name, "rb"),
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

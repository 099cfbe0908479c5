"""The one way images are decoded in this project: through a per-process gate.

Processing a photo holds a few hundred megabytes for about a second (a 59 MP JPEG ~130 MB, a
60 MP PNG or HEIC ~500 MB, a 60 MP WebP ~950 MB: see ``clinic.imaging``), and a web worker
serves several requests at once on its threads; unbounded, eight large uploads at once were
measured at 3.4 GB. So at most ``settings.PHOTO_PROCESSING_CONCURRENCY`` photos are processed at
the same time in one process; an upload that cannot start within
``settings.PHOTO_PROCESSING_WAIT_SECONDS`` is refused with a message the user can act on
(``PhotoRejected``, code ``"busy"``), before anything of it is read, so nothing is stored.

``clinic.imaging`` stays pure (no settings, no threads). ``.importlinter`` lets no module but
this one import it, so the services cannot call ``process_photo`` around the gate; what they need
of the pure module is re-exported here. Document images and consent signatures
(``clean_image``, through ``clinic.files.read_checked``) take the same slots as photos: a 40 MP
scan decodes to 160 MB just the same.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

from django.conf import settings

from clinic.imaging import (
    MAX_PIXELS,
    MAX_UPLOAD_BYTES,
    STILL_FORMATS,
    PhotoRejected,
    ProcessedPhoto,
    clean_still,
    process_photo,
)

logger = logging.getLogger(__name__)

BUSY = "busy"
BUSY_MESSAGE = "The server is busy processing other photos; try again in a moment."


@functools.cache
def _semaphore(limit: int) -> threading.BoundedSemaphore:
    """The process's semaphore for ``limit`` slots.

    Keyed by the limit, which is read from settings on every call, so that a test overriding the
    setting gets a gate of its size; a running site never changes it, so it has exactly one.
    Bounded, so that a release without an acquire is an error rather than an extra slot.
    """
    return threading.BoundedSemaphore(limit)


@contextmanager
def processing_slot(*, wait: bool = True) -> Iterator[None]:
    """Hold one of this process's photo-processing slots for the duration of the block.

    Waits up to ``PHOTO_PROCESSING_WAIT_SECONDS`` for a slot (not at all with ``wait=False``)
    and raises ``PhotoRejected`` (code ``"busy"``) if none frees up.
    """
    limit = settings.PHOTO_PROCESSING_CONCURRENCY
    timeout = settings.PHOTO_PROCESSING_WAIT_SECONDS if wait else 0
    semaphore = _semaphore(limit)
    started = time.monotonic()
    if not semaphore.acquire(timeout=timeout):
        # Worth a warning: if it happens often, the limit or the workers need a second look.
        logger.warning(
            "photo refused: all %d processing slots busy for %.1f s", limit, time.monotonic() - started
        )
        raise PhotoRejected(BUSY_MESSAGE, code=BUSY)
    try:
        yield
    finally:
        semaphore.release()


def process_upload(
    upload: IO[bytes] | bytes, *, max_bytes: int = MAX_UPLOAD_BYTES, wait: bool = True
) -> ProcessedPhoto:
    """``clinic.imaging.process_photo`` inside a processing slot.

    The upload is read inside the slot too: a request waiting its turn holds no copy of it.
    Raises ``PhotoRejected`` for a file that is not an acceptable photo and when the server is
    busy (code ``"busy"``); either way nothing should be stored.
    """
    with processing_slot(wait=wait):
        return process_photo(upload, max_bytes=max_bytes)


def clean_image(
    upload: IO[bytes] | bytes,
    *,
    formats: tuple[str, ...] = STILL_FORMATS,
    max_bytes: int = MAX_UPLOAD_BYTES,
    max_pixels: int = MAX_PIXELS,
    wait: bool = True,
) -> bytes:
    """``clinic.imaging.clean_still`` inside a processing slot: the image re-encoded, metadata-free.

    Raises ``PhotoRejected`` as ``clean_still`` does, and with code ``"busy"`` when no slot frees up.
    """
    with processing_slot(wait=wait):
        return clean_still(upload, formats=formats, max_bytes=max_bytes, max_pixels=max_pixels)


__all__ = [
    "BUSY",
    "BUSY_MESSAGE",
    "MAX_UPLOAD_BYTES",
    "STILL_FORMATS",
    "PhotoRejected",
    "ProcessedPhoto",
    "clean_image",
    "process_upload",
    "processing_slot",
]

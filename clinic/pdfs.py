"""Uploaded PDFs: parsed as PDFs, and refused unless they are plain documents.

A PDF cannot be re-encoded the way an image is (a supplier's digitally signed certificate would
lose its signature, and a rewrite is a second, riskier parser run over the same bytes), so it is
kept byte for byte, but only once it has been parsed structurally (pypdf) and found to be:

* a real PDF: it opens, has a catalog and at least one page, and nothing but white space after
  its last ``%%EOF`` (HTML or PHP between ``%PDF-`` and ``%%EOF`` has no pages; a web page
  hidden in its first kilobyte, where content sniffers look, is refused too);
* not encrypted: what cannot be read cannot be checked;
* inert: no JavaScript (``/JS``, ``/JavaScript`` in the names tree, as an ``/OpenAction`` or
  anywhere else), no automatic actions (``/AA`` on the document, its pages, annotations or
  form fields), no action that starts a program or reaches outside the file (``/Launch``,
  ``/GoToR``, ``/GoToE``, ``/ImportData``, ``/SubmitForm``, rich media, movies, sounds), no
  link other than ``http``, ``https`` and ``mailto``, no embedded or attached file, and no XFA
  form (XFA carries its own scripts).

Every object is looked at: everything reachable from the trailer (catalog, names, outlines,
pages and their annotations, forms, document information) and every object in the
cross-reference table besides, so an action left unreferenced for a viewer that repairs the
file differently is still found. The work is bounded: at most ``MAX_PAGES`` pages,
``MAX_OBJECTS`` objects and ``MAX_SECONDS`` of walking; past that the file is refused rather
than half checked. Whatever pypdf raises is a refusal, never an error page.

Pure: bytes in, a summary or :class:`PdfRejected` out; no models, storage or settings.
"""

from __future__ import annotations

import io
import re
import time
from dataclasses import dataclass
from typing import Final

from pypdf import PdfReader
from pypdf.generic import (
    ArrayObject,
    DictionaryObject,
    IndirectObject,
    NameObject,
    PdfObject,
    TextStringObject,
)

#: Certificates, data sheets and instructions run to a few dozen pages; a thousand is generous.
MAX_PAGES: Final = 1000
#: A scanned 50-page PDF holds a few hundred objects, a 500-page manual some tens of thousands.
MAX_OBJECTS: Final = 200_000
MAX_SECONDS: Final = 10.0

# Action types (``/S``) that run code, start programs, send data or open other files.
_ACTIVE_ACTIONS: Final = {
    "/JavaScript": "JavaScript",
    "/Launch": "an action that starts a program",
    "/GoToR": "a link that opens another file",
    "/GoToE": "a link into an embedded file",
    "/ImportData": "an action that imports data",
    "/SubmitForm": "a form that sends data",
    "/RichMediaExecute": "rich media",
    "/Rendition": "a media action",
    "/Movie": "a movie",
    "/Sound": "a sound",
}
# Annotation subtypes that carry files or media.
_ACTIVE_SUBTYPES: Final = {
    "/FileAttachment": "an attached file",
    "/RichMedia": "rich media",
    "/Movie": "a movie",
    "/Sound": "a sound",
    "/Screen": "a media player",
    "/3D": "3D content",
}
# Keys whose mere presence says what the file carries.
_ACTIVE_KEYS: Final = {
    "/JS": "JavaScript",
    "/JavaScript": "JavaScript",
    "/AA": "actions that run by themselves",
    "/EmbeddedFiles": "an embedded file",
    "/EF": "an embedded file",
    "/XFA": "an XFA form",
    "/RichMediaContent": "rich media",
}
_SAFE_URI: Final = re.compile(rb"(?i)\s*(https?://|mailto:)")
_WEB_CODE: Final = re.compile(rb"(?i)<\s*(html|head|body|script|iframe|svg|object|embed|meta)\b|<\?php")
_TRAILING_SPACE: Final = b" \t\r\n\x00\x0c"


class PdfRejected(ValueError):
    """The file is not a PDF we store; ``message`` can be shown to the user as it is.

    ``code`` is a stable reason: "not_pdf", "encrypted", "active", "too_complex".
    """

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass(frozen=True, slots=True)
class PdfSummary:
    """What the check found in an accepted PDF."""

    pages: int
    objects: int


NOT_A_PDF = (
    "This file is not a readable PDF: it is damaged, incomplete, or only looks like a PDF. "
    "Save it again as a PDF (or scan it again) and upload that."
)


def check_pdf(
    data: bytes,
    *,
    max_pages: int = MAX_PAGES,
    max_objects: int = MAX_OBJECTS,
    max_seconds: float = MAX_SECONDS,
) -> PdfSummary:
    """Parse ``data`` as a PDF; return its summary, or raise :class:`PdfRejected` saying why not."""
    if not data.startswith(b"%PDF-"):
        raise PdfRejected(NOT_A_PDF, code="not_pdf")
    end = data.rfind(b"%%EOF")
    if end < 0:
        raise PdfRejected(
            "This PDF is incomplete or damaged (it has no end). Please upload it again.", code="not_pdf"
        )
    if data[end + len(b"%%EOF") :].strip(_TRAILING_SPACE):
        raise PdfRejected(
            "This PDF has data after its end, which a PDF never has. Save it again as a PDF and upload that.",
            code="not_pdf",
        )
    if _WEB_CODE.search(data[:1024]):
        raise PdfRejected(
            "This file contains web-page code where a PDF has its header, so it is not accepted.",
            code="not_pdf",
        )
    deadline = time.monotonic() + max_seconds
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            raise PdfRejected(
                "This PDF is password-protected or encrypted, so its content cannot be checked. "
                "Save or print it as an unprotected PDF and upload that.",
                code="encrypted",
            )
        numbers = _object_numbers(reader)
        if len(numbers) > max_objects:
            raise _too_complex()
        pages = len(reader.pages)
        if pages == 0:
            raise PdfRejected("This PDF has no pages. " + NOT_A_PDF, code="not_pdf")
        if pages > max_pages:
            raise PdfRejected(
                f"This PDF has {pages} pages; at most {max_pages} are accepted.", code="too_complex"
            )
        walker = _Walker(max_objects=max_objects, deadline=deadline)
        # Everything a viewer reaches: the catalog (pages, annotations, names, outlines, forms,
        # open action) and the document information.
        walker.walk(reader.trailer)
        for page in reader.pages:
            walker.walk(page)
        # And every object the file declares, referenced or not.
        for number, generation in numbers:
            walker.walk_unreferenced(reader, number, generation)
    except PdfRejected:
        raise
    except Exception as exc:
        # pypdf signals a broken file with many types (PdfReadError, PdfStreamError, KeyError,
        # ValueError, RecursionError on absurd nesting...): none of them is a PDF we can vouch for.
        raise PdfRejected(NOT_A_PDF, code="not_pdf") from exc
    return PdfSummary(pages=pages, objects=walker.seen)


def _object_numbers(reader: PdfReader) -> list[tuple[int, int]]:
    """(number, generation) of every object in the cross-reference table, object streams included."""
    numbers = [(number, generation) for generation, table in reader.xref.items() for number in table]
    numbers.extend((number, 0) for number in reader.xref_objStm)
    return numbers


def _too_complex() -> PdfRejected:
    return PdfRejected(
        "This PDF is too complex to be checked. Save or print it again as a simpler PDF and upload that.",
        code="too_complex",
    )


class _Walker:
    """Visits PDF objects depth first, without recursion, each indirect object once."""

    def __init__(self, *, max_objects: int, deadline: float) -> None:
        self.max_nodes = max_objects * 50  # direct values inside objects count too
        self.deadline = deadline
        self.visited: set[tuple[int, int]] = set()
        self.nodes = 0

    @property
    def seen(self) -> int:
        return len(self.visited)

    def walk_unreferenced(self, reader: PdfReader, number: int, generation: int) -> None:
        if (number, generation) in self.visited:
            return
        try:
            obj = IndirectObject(number, generation, reader).get_object()
        except Exception:
            # An object pypdf cannot read and nothing refers to: no viewer following the file's
            # own references runs it. Whatever *is* referenced was read above, and failed there.
            return
        self.visited.add((number, generation))
        self.walk(obj)

    def walk(self, root: PdfObject | None) -> None:
        stack: list[PdfObject | None] = [root]
        while stack:
            obj = stack.pop()
            self.nodes += 1
            if self.nodes % 1000 == 0 and (self.nodes > self.max_nodes or time.monotonic() > self.deadline):
                raise _too_complex()
            if isinstance(obj, IndirectObject):
                key = (obj.idnum, obj.generation)
                if key in self.visited:
                    continue
                self.visited.add(key)
                stack.append(obj.get_object())
            elif isinstance(obj, DictionaryObject):
                # A stream is a dictionary too; its content (page drawing, images, fonts) is not
                # decoded: actions and scripts live in dictionaries, never in content streams.
                _check_dictionary(obj)
                stack.extend(obj.values())
            elif isinstance(obj, ArrayObject):
                stack.extend(obj)


def _check_dictionary(obj: DictionaryObject) -> None:
    for key, what in _ACTIVE_KEYS.items():
        if key in obj:
            raise _active(what)
    action = _name(obj, "/S")
    if action in _ACTIVE_ACTIONS:
        raise _active(_ACTIVE_ACTIONS[action])
    if action == "/URI" and not _SAFE_URI.match(_raw(obj.get("/URI"))):
        raise _active("a link that is not a web or email address")
    subtype = _name(obj, "/Subtype")
    if subtype in _ACTIVE_SUBTYPES:
        raise _active(_ACTIVE_SUBTYPES[subtype])
    if _name(obj, "/Type") == "/EmbeddedFile":
        raise _active("an embedded file")


def _name(obj: DictionaryObject, key: str) -> str:
    """The name under ``key`` (followed if indirect), or "" when there is none or it is no name."""
    value = obj.get(key)
    if isinstance(value, IndirectObject):
        value = value.get_object()
    return str(value) if isinstance(value, NameObject) else ""


def _raw(value: object) -> bytes:
    """A string object's bytes as written in the file (a text string's, or a byte string's)."""
    if isinstance(value, IndirectObject):
        value = value.get_object()
    if isinstance(value, TextStringObject):
        return value.original_bytes
    if isinstance(value, bytes):
        return bytes(value)
    return b""


def _active(what: str) -> PdfRejected:
    return PdfRejected(
        f"This PDF contains {what}, which a regulatory document does not need, so it is not accepted. "
        "Ask the supplier for a plain PDF, or print it to a new PDF and upload that.",
        code="active",
    )

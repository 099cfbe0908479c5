"""Writes for photos (upload, marketing flag, retire) and the one consent rule for reading them.

Every service writes its audit row itself, in the same transaction as the change.
``has_consent`` is imported here and only here, so the consent rules live in one module.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.core.files.storage import storages
from django.db import transaction
from django.utils import timezone

from clinic.audit import AuditAction, audit_record, snapshot
from clinic.files import StoredFile, store_private
from clinic.imaging_gate import BUSY, MAX_UPLOAD_BYTES, PhotoRejected, ProcessedPhoto, process_upload
from treatments.consent import has_consent
from treatments.models import Scope, Session, SessionStatus
from treatments.photos.models import RENDITIONS, Photo, PhotoTag, PhotoView
from treatments.services.common import require_location

if TYPE_CHECKING:
    from django.contrib.auth.models import User

logger = logging.getLogger(__name__)

#: Files accepted in one request: a full set of views before and after is 16.
MAX_FILES_PER_UPLOAD = 20
FOLDER = "photos"
NO_PHOTO_SESSION = (SessionStatus.CANCELLED, SessionStatus.NO_SHOW)
AUDIT_FIELDS = ["patient", "session", "location", "tag", "view", "area", "marketing_use", "retired_at"]


@dataclass(frozen=True)
class PhotoUpload:
    """One file of an upload request, with what the practitioner said it shows."""

    file: IO[bytes]
    filename: str
    tag: str
    view: str
    area: str = ""


@dataclass(frozen=True)
class UploadOutcome:
    """What became of one file: a saved ``photo`` or an ``error`` to show next to its name.

    ``code`` says why a file was refused: a ``PhotoRejected`` code ("busy" when the server had
    no processing slot free) or "invalid" for a wrong tag, view or area.
    """

    filename: str
    photo: Photo | None = None
    error: str = ""
    code: str = ""

    @property
    def ok(self) -> bool:
        return self.photo is not None


# --- Consent rules (reads) -------------------------------------------------------------------


def photography_consented(patient) -> bool:
    """Whether the patient currently holds clinical-photography consent."""
    return has_consent(patient, Scope.PHOTOGRAPHY)


def marketing_consented(patient) -> bool:
    """Whether the patient currently agrees to their photos being used for marketing (and
    has not restricted processing: a restricted patient's photos are used for care only)."""
    return not patient.is_restricted and has_consent(patient, Scope.MARKETING)


def photos_withheld(*, user, patient) -> bool:
    """True when ``user`` may not see this patient's photos because consent was withdrawn.

    Derived at read time: withdrawing consent rewrites no photo row, and signing again
    brings the photos back. Managers (``photos.view_withdrawn_photo``) still see them, as
    the clinical record must stay complete.
    """
    if user.has_perm("photos.view_withdrawn_photo"):
        return False
    return not photography_consented(patient)


# --- Upload --------------------------------------------------------------------------------


def photo_upload(
    *, actor: User | None, session: Session, uploads: Iterable[PhotoUpload]
) -> list[UploadOutcome]:
    """Process and store each file of one upload request; one outcome per file, in order.

    Each file stands alone: a refused file stores nothing and does not stop the others, and a
    saved file is committed with its audit row whatever happens to the next one. Raises
    ``ValidationError`` only for what refuses the whole request (no consent, wrong session).
    """
    uploads = list(uploads)
    _check_can_upload(actor, session, count=len(uploads))
    outcomes: list[UploadOutcome] = []
    for upload in uploads:
        # One file after another, each decoded, stored and dropped before the next is opened,
        # so a request of twenty holds one decoded photo, not twenty. Once the gate has turned a
        # file away, the rest only take a slot that is free at once: each waiting its turn as
        # well would keep the user (and the proxy) waiting twenty times as long to hear "busy".
        busy = any(outcome.code == BUSY for outcome in outcomes)
        outcomes.append(_upload_one(actor, session, upload, wait=not busy))
    return outcomes


def _check_can_upload(actor: User | None, session: Session, *, count: int) -> None:
    require_location(actor, session.location)
    if session.status in NO_PHOTO_SESSION:
        raise ValidationError(
            f"This session is {session.get_status_display().lower()}: "
            "photos belong to a session that took place."
        )
    if not photography_consented(session.patient):
        raise ValidationError(
            f"{session.patient} has no clinical-photography consent on record. "
            "Record their consent before taking photos."
        )
    if count == 0:
        raise ValidationError("Choose at least one photo to upload.")
    if count > MAX_FILES_PER_UPLOAD:
        raise ValidationError(f"Upload at most {MAX_FILES_PER_UPLOAD} photos at a time.")


def _upload_one(actor: User | None, session: Session, upload: PhotoUpload, *, wait: bool) -> UploadOutcome:
    name = _display_filename(upload.filename)
    photo = Photo(
        patient_id=session.patient_id,
        session=session,
        location_id=session.location_id,
        tag=upload.tag,
        view=upload.view,
        area=(upload.area or "").strip(),
        taken_by=actor,
    )
    # The cheap checks first: a wrong tag or view should not cost a decode.
    try:
        photo.clean_fields(
            exclude=[f"{r}_{part}" for r in RENDITIONS for part in _FILE_PARTS] + _SOURCE_PARTS
        )
    except ValidationError as exc:
        return UploadOutcome(name, error=_join(exc), code="invalid")
    # Decoding is CPU work of up to a second: done outside any transaction or lock, in one of the
    # process's few processing slots (clinic.imaging_gate), which bound its memory.
    try:
        processed = process_upload(upload.file, max_bytes=MAX_UPLOAD_BYTES, wait=wait)
    except PhotoRejected as exc:
        logger.info("photo refused (%s): %s", exc.code, name)
        return UploadOutcome(name, error=exc.message, code=exc.code)

    stored = _store(processed)
    try:
        with transaction.atomic():
            _fill(photo, processed, stored)
            photo.full_clean()
            photo.save()
            audit_record(
                actor=actor,
                action=AuditAction.PHOTO_UPLOAD,
                obj=photo,
                location=session.location,
                after={
                    **snapshot(photo, AUDIT_FIELDS),
                    "source_format": photo.source_format,
                    "sha256": {r: getattr(photo, f"{r}_sha256") for r in RENDITIONS},
                },
            )
    except BaseException:
        # The row did not commit, so its files must not stay behind unreferenced.
        _delete_files({s.name for s in stored.values()})
        raise
    return UploadOutcome(name, photo=photo)


_FILE_PARTS = ("name", "sha256", "size", "width", "height")
_SOURCE_PARTS = ["source_format", "source_width", "source_height"]


def _store(processed: ProcessedPhoto) -> dict[str, StoredFile]:
    """Write each distinct rendition once (a small photo's display and thumb may be its full)."""
    stored: dict[str, StoredFile] = {}
    by_identity: dict[int, StoredFile] = {}
    try:
        for key, rendition in processed.renditions.items():
            if id(rendition) not in by_identity:
                by_identity[id(rendition)] = store_private(rendition.content, folder=FOLDER, kind="jpeg")
            stored[key] = by_identity[id(rendition)]
    except BaseException:
        _delete_files({s.name for s in by_identity.values()})
        raise
    return stored


def _fill(photo: Photo, processed: ProcessedPhoto, stored: dict[str, StoredFile]) -> None:
    for key, rendition in processed.renditions.items():
        setattr(photo, f"{key}_name", stored[key].name)
        setattr(photo, f"{key}_sha256", stored[key].sha256)
        setattr(photo, f"{key}_size", stored[key].size)
        setattr(photo, f"{key}_width", rendition.width)
        setattr(photo, f"{key}_height", rendition.height)
    photo.source_format = processed.source_format
    photo.source_width = processed.source_width
    photo.source_height = processed.source_height


def _delete_files(names: set[str]) -> None:
    storage = storages["private"]
    for name in names:
        try:
            storage.delete(name)
        except Exception:  # pragma: no cover - best effort; the original error matters more
            logger.exception("could not delete orphaned photo file %s", name)


def _display_filename(filename: str) -> str:
    """The client's file name, only for messages (never used to store anything)."""
    return (filename or "photo").replace("\\", "/").rsplit("/", 1)[-1][:120] or "photo"


def _join(exc: ValidationError) -> str:
    if hasattr(exc, "error_dict"):
        return " ".join(f"{_FIELD_LABELS.get(k, k)}: {' '.join(v)}" for k, v in exc.message_dict.items())
    return " ".join(exc.messages)


_FIELD_LABELS = {"tag": "Before/after", "view": "View", "area": "Area"}


# --- Marketing flag and retiring -------------------------------------------------------------


def photo_flag_marketing(*, actor: User | None, photo: Photo, marketing_use: bool) -> Photo:
    """Mark (or unmark) a photo for marketing use; marking needs the patient's marketing consent.

    Unmarking is always allowed: it is what withdrawing marketing consent calls for.
    """
    with transaction.atomic():
        photo = Photo.objects.select_for_update().select_related("patient", "location").get(pk=photo.pk)
        if photo.retired_at is not None:
            raise ValidationError("This photo is retired and cannot be used for marketing.")
        if marketing_use and photo.patient.is_restricted:
            raise ValidationError(
                f"{photo.patient}'s processing is restricted: their photos are used for care only."
            )
        if marketing_use and not marketing_consented(photo.patient):
            raise ValidationError(
                f"{photo.patient} has not consented to their photos being used for marketing."
            )
        if photo.marketing_use == marketing_use:
            return photo
        before = snapshot(photo, ["marketing_use"])
        photo.marketing_use = marketing_use
        photo.full_clean()
        photo.save(update_fields=["marketing_use"])
        audit_record(
            actor=actor,
            action=AuditAction.PHOTO_MARKETING_FLAG if marketing_use else AuditAction.PHOTO_MARKETING_UNFLAG,
            obj=photo,
            before=before,
            after=snapshot(photo, ["marketing_use"]),
        )
    return photo


def photo_retire(*, actor: User | None, photo: Photo, reason: str) -> Photo:
    """Take a photo out of every page (wrong patient, blurred, duplicate) without deleting it.

    The files and row stay so the audit trail still points at what was seen and by whom.
    """
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why the photo is retired."})
    with transaction.atomic():
        photo = Photo.objects.select_for_update().select_related("location").get(pk=photo.pk)
        if photo.retired_at is not None:
            return photo
        before = snapshot(photo, ["retired_at", "marketing_use"])
        photo.retired_at = timezone.now()
        photo.retired_by = actor if getattr(actor, "is_authenticated", False) else None
        photo.retire_reason = reason[:200]
        # A retired photo is never a marketing photo.
        photo.marketing_use = False
        photo.full_clean()
        photo.save(update_fields=["retired_at", "retired_by", "retire_reason", "marketing_use"])
        audit_record(
            actor=actor,
            action=AuditAction.PHOTO_RETIRE,
            obj=photo,
            before=before,
            after={**snapshot(photo, ["retired_at", "marketing_use"]), "reason": photo.retire_reason},
        )
    return photo


def photo_view_record(*, actor: User | None, photo: Photo, rendition: str) -> None:
    """Write the audit row for one view of one photo file (called by the serving view)."""
    audit_record(
        actor=actor,
        action=AuditAction.PHOTO_VIEW,
        obj=photo,
        location=photo.location,
        after={"rendition": rendition},
    )


def photo_view_refused(
    *, actor: User | None, patient, photo: Photo | None = None, what: str = "photo"
) -> None:
    """Record that photos were withheld from ``actor`` because photography consent is withdrawn."""
    if photo is not None:
        audit_record(
            actor=actor,
            action=AuditAction.PHOTO_VIEW_REFUSED,
            obj=photo,
            location=photo.location,
            after={"reason": "photography consent withdrawn", "what": what},
        )
    else:
        audit_record(
            actor=actor,
            action=AuditAction.PHOTO_VIEW_REFUSED,
            obj=patient,
            after={"reason": "photography consent withdrawn", "what": what},
        )


__all__ = [
    "MAX_FILES_PER_UPLOAD",
    "PhotoTag",
    "PhotoUpload",
    "PhotoView",
    "UploadOutcome",
    "marketing_consented",
    "photo_flag_marketing",
    "photo_retire",
    "photo_upload",
    "photo_view_record",
    "photo_view_refused",
    "photography_consented",
    "photos_withheld",
]

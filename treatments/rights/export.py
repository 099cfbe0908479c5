"""The subject-access export: everything the clinic holds about one patient, as one ZIP.

The archive holds
- ``patient-data.json``: machine-readable (UK GDPR article 20), every row about the patient
  with every stored field, described by ``docs/subject-access.schema.json``;
- ``summary.html``: the same, readable by the patient in any browser, offline;
- ``photos/`` and ``signatures/``: the files themselves (the full rendition of each photo).

The data is read in a fixed number of queries when the export is asked for (so errors
surface before the download starts); the files are streamed one chunk at a time into a ZIP
written to a non-seekable sink, so memory stays flat whatever the number of photos.

Fields are exported generically (every concrete field of each model, minus the internal
ones named in ``_INTERNAL``), so a field added to a model is in the next export without
anyone remembering to add it here.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.storage import storages
from django.db import models
from django.template.loader import render_to_string
from django.utils import timezone

from clinic.models import Location, Notification
from treatments.models import (
    Addendum,
    AdverseEvent,
    ConsentTemplate,
    ConsentWithdrawal,
    ContactAttempt,
    InjectionPoint,
    Patient,
    PatientConsent,
    ProductLine,
    Screening,
    Session,
    SessionChange,
    TreatmentPlan,
    TreatmentRecord,
)
from treatments.photos.models import Photo
from treatments.reminders import regarding_patient

FORMAT = "exosome-clinic/subject-access"
FORMAT_VERSION = 1
CHUNK = 64 * 1024

# Stored for the software's own use (search keys, storage paths, delivery bookkeeping), not
# information about the patient; the files the paths point to are in the archive instead.
_INTERNAL: dict[type[models.Model], set[str]] = {
    Patient: {"first_name_key", "last_name_key", "phone_digits"},
    PatientConsent: {"signature_name"},
    Photo: {"full_name", "display_name", "thumb_name"},
    Notification: {"dedupe_key", "claimed_at", "attempts", "last_error", "html_body", "recipient_user"},
}


@dataclass(frozen=True)
class ArchivedFile:
    """A private file to copy into the archive."""

    arcname: str
    storage_name: str


@dataclass
class SubjectAccess:
    """The export's data, read up front; ``files`` are streamed later."""

    patient: Patient
    data: dict[str, Any]
    files: list[ArchivedFile]

    @property
    def filename(self) -> str:
        # No name in the file name: it lands in a downloads folder and in browser history.
        return f"patient-{self.patient.pk}-data-{timezone.localdate():%Y-%m-%d}.zip"


def _json_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return timezone.localtime(value).isoformat() if timezone.is_aware(value) else value.isoformat()
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    return value


class _Names:
    """Display names for the staff and places rows point at, read once per export."""

    def __init__(self) -> None:
        user_model = get_user_model()
        self.users = {
            u.pk: (u.get_full_name() or u.get_username())
            for u in user_model.objects.only("pk", "first_name", "last_name", "username")
        }
        self.locations = dict(Location.objects.values_list("pk", "name"))

    def of(self, field: models.Field, value: Any) -> str | None:
        if value is None:
            return None
        if field.related_model is get_user_model():
            return self.users.get(value)
        if field.related_model is Location:
            return self.locations.get(value)
        return None


def _row(obj: models.Model, names: _Names, **extra: Any) -> dict[str, Any]:
    """Every stored field of ``obj``: values as JSON, choices with their label, links by id
    (and by name for staff and places)."""
    internal = _INTERNAL.get(type(obj), set())
    row: dict[str, Any] = {}
    for field in obj._meta.concrete_fields:
        if field.name in internal:
            continue
        value = getattr(obj, field.attname)
        if field.is_relation:
            row[field.attname] = value
            name = names.of(field, value)
            if name is not None:
                row[field.name] = name
            continue
        row[field.name] = _json_value(value)
        if field.choices and value not in (None, ""):
            row[f"{field.name}_label"] = str(dict(field.flatchoices).get(value, value))
    row.update(extra)
    return row


def _photo_arcname(photo: Photo) -> str:
    ext = (photo.full_name.rsplit(".", 1)[-1] or "jpg").lower()
    return f"photos/photo-{photo.pk}-{photo.view}-{photo.tag}.{ext}"


def _signature_arcname(consent: PatientConsent) -> str:
    return f"signatures/consent-{consent.pk}.png"


def subject_access_build(patient: Patient) -> SubjectAccess:
    """Read everything held about ``patient`` (a fixed number of queries)."""
    names = _Names()
    patient = Patient.objects.select_related("location").get(pk=patient.pk)
    sessions = list(
        Session.objects.filter(patient=patient).select_related("room").order_by("starts_at", "pk")
    )
    changes = list(SessionChange.objects.filter(session__patient=patient).order_by("changed_at", "pk"))
    plans = list(TreatmentPlan.objects.filter(patient=patient).select_related("template").order_by("pk"))
    attempts = list(ContactAttempt.objects.filter(plan__patient=patient).order_by("made_at", "pk"))
    records = list(TreatmentRecord.objects.filter(session__patient=patient).order_by("pk"))
    lines = list(
        ProductLine.objects.filter(record__session__patient=patient)
        .select_related("lot__product")
        .order_by("record_id", "pk")
    )
    points = list(InjectionPoint.objects.filter(line__record__session__patient=patient).order_by("pk"))
    adverse = list(AdverseEvent.objects.filter(record__session__patient=patient).order_by("pk"))
    addenda = list(Addendum.objects.filter(record__session__patient=patient).order_by("pk"))
    consents = list(PatientConsent.objects.filter(patient=patient).order_by("signed_at", "pk"))
    withdrawals = list(ConsentWithdrawal.objects.filter(consent__patient=patient).order_by("pk"))
    templates = list(ConsentTemplate.objects.filter(consents__patient=patient).distinct().order_by("pk"))
    screenings = list(Screening.objects.filter(patient=patient).order_by("answered_at", "pk"))
    photos = list(Photo.objects.filter(patient=patient).order_by("created_at", "pk"))
    messages = list(
        Notification.objects.filter(regarding=regarding_patient(patient.pk)).order_by("created_at", "pk")
    )

    storage = storages["private"]
    files: list[ArchivedFile] = []

    def archived(arcname: str, storage_name: str) -> str | None:
        # A file lost from storage is said so in the data, rather than breaking the download.
        if not storage_name or not storage.exists(storage_name):
            return None
        files.append(ArchivedFile(arcname, storage_name))
        return arcname

    rooms = {s.pk: (s.room.name if s.room else None) for s in sessions}
    data: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "generated_at": timezone.localtime().isoformat(),
        "controller": {"name": settings.CLINIC_NAME, "location": patient.location.name},
        "patient": _row(patient, names),
        "sessions": [_row(s, names, room=rooms[s.pk]) for s in sessions],
        "session_changes": [_row(c, names) for c in changes],
        "plans": [_row(p, names, protocol=p.template.name) for p in plans],
        "contact_attempts": [_row(a, names) for a in attempts],
        "treatment_records": [_row(r, names) for r in records],
        "product_lines": [
            _row(
                line,
                names,
                product=line.lot.product.name,
                lot_number=line.lot.lot_number,
                lot_expiry=_json_value(line.lot.expiry_date),
            )
            for line in lines
        ],
        "injection_points": [_row(p, names) for p in points],
        "adverse_events": [_row(a, names) for a in adverse],
        "addenda": [_row(a, names) for a in addenda],
        "consent_templates": [_row(t, names) for t in templates],
        "consents": [
            _row(c, names, signature_file=archived(_signature_arcname(c), c.signature_name)) for c in consents
        ],
        "consent_withdrawals": [_row(w, names) for w in withdrawals],
        "screenings": [_row(s, names) for s in screenings],
        "photos": [_row(p, names, file=archived(_photo_arcname(p), p.full_name)) for p in photos],
        "messages": [_row(m, names) for m in messages],
    }
    return SubjectAccess(patient=patient, data=data, files=files)


class _Sink:
    """A write-only, non-seekable file for ``zipfile``: what is written is drained as chunks."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []

    def write(self, data: bytes) -> int:
        self._chunks.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def drain(self) -> bytes:
        data = b"".join(self._chunks)
        self._chunks.clear()
        return data


def _info(arcname: str, compress: bool) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(arcname, date_time=timezone.localtime().timetuple()[:6])
    info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    info.external_attr = 0o600 << 16
    return info


def summary_html(export: SubjectAccess) -> str:
    """The readable copy: every section of the data as tables, photos inline."""
    sections = [
        (key.replace("_", " ").capitalize(), rows)
        for key, rows in export.data.items()
        if isinstance(rows, list)
    ]
    return render_to_string(
        "treatments/rights/summary.html",
        {"data": export.data, "patient": export.data["patient"], "sections": sections},
    )


def subject_access_zip(export: SubjectAccess) -> Iterator[bytes]:
    """The ZIP, as chunks: JSON and summary first, then each file read in CHUNK-sized pieces."""
    sink = _Sink()
    with zipfile.ZipFile(sink, mode="w") as archive:
        for arcname, text in (
            ("patient-data.json", json.dumps(export.data, indent=2, ensure_ascii=False)),
            ("summary.html", summary_html(export)),
        ):
            with archive.open(_info(arcname, compress=True), mode="w") as out:
                out.write(text.encode())
            yield sink.drain()
        storage = storages["private"]
        for item in export.files:
            # Photos and signatures are compressed already: stored as they are.
            with (
                storage.open(item.storage_name, "rb") as source,
                archive.open(_info(item.arcname, compress=False), mode="w", force_zip64=True) as out,
            ):
                for chunk in _chunks(source):
                    out.write(chunk)
                    yield sink.drain()
    yield sink.drain()


def _chunks(source: Any) -> Iterable[bytes]:
    while chunk := source.read(CHUNK):
        yield chunk

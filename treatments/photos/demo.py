"""Demo photos for `manage.py seed_demo`: drawn with Pillow, processed and stored like real uploads.

A few demo patients at each location get before/after photos from the same views at each of
their completed sessions, with the skin (or scalp) visibly improving from session to session,
so the gallery and the comparison have something to show. Every picture is drawn here (no
downloads) with a GPS position in its EXIF, and goes through ``process_photo`` and the upload
service, so what is stored is exactly what a real upload would leave (metadata stripped).

Photos need the patient's photography consent. A patient without one is given a signed
consent through the consent service when a consent template is published for their treatment
type; if none is, the demo publishes a plain one first (the consent demo data may replace it).
Idempotent: a patient who already has photos is left alone.
"""

from __future__ import annotations

import base64
import io
import random

from django.core.files.uploadedfile import SimpleUploadedFile
from django.db.models import Count, Q
from PIL import ExifTags, Image, ImageDraw, ImageFilter

from treatments.consent import has_consent
from treatments.models import Patient, Scope, Session, SessionStatus, TreatmentType
from treatments.photos.models import Photo, PhotoTag, PhotoView
from treatments.photos.services import PhotoUpload, photo_upload

PATIENTS_PER_LOCATION = 2
SESSIONS_PER_PATIENT = 3
SIZE = (1200, 1500)

FACE_VIEWS = (PhotoView.FRONT, PhotoView.LEFT_45, PhotoView.RIGHT_45)
SCALP_VIEWS = (PhotoView.SCALP_TOP, PhotoView.SCALP_CROWN)
AREAS = {
    PhotoView.FRONT: "full face",
    PhotoView.LEFT_45: "left cheek",
    PhotoView.RIGHT_45: "right cheek",
    PhotoView.SCALP_TOP: "vertex",
    PhotoView.SCALP_CROWN: "crown",
}


def seed(*, locations, users, stdout) -> None:
    made = skipped = 0
    for code in sorted(locations):
        if Photo.objects.filter(location=locations[code]).exists():
            continue  # seeded before (or real photos): never add more on a re-run
        for patient in _demo_patients(locations[code]):
            if Photo.objects.filter(patient=patient).exists():
                continue
            sessions = _sessions(patient)
            if not sessions:
                continue
            if not _ensure_photography_consent(patient, sessions[-1]):
                skipped += 1
                continue
            made += _photograph(patient, sessions)
    message = f"  photos: {made} demo photos stored"
    if skipped:
        message += f"; {skipped} patients skipped (no consent template to sign)"
    stdout.write(message)


def _demo_patients(location) -> list[Patient]:
    """The patients with the most completed sessions (at least two): the same ones on every run."""
    done = Q(sessions__status=SessionStatus.COMPLETED, sessions__location=location)
    return list(
        Patient.objects.filter(location=location)
        .annotate(done=Count("sessions", filter=done))
        .filter(done__gte=2)
        .order_by("-done", "pk")[:PATIENTS_PER_LOCATION]
    )


def _sessions(patient: Patient) -> list[Session]:
    return list(
        Session.objects.filter(patient=patient, status=SessionStatus.COMPLETED)
        .select_related("patient", "location", "practitioner")
        .order_by("starts_at")[:SESSIONS_PER_PATIENT]
    )


def _ensure_photography_consent(patient: Patient, session: Session) -> bool:
    if has_consent(patient, Scope.PHOTOGRAPHY):
        return True
    try:
        from treatments.models import ConsentTemplate
        from treatments.services import consent_sign, consent_template_publish
    except ImportError:  # pragma: no cover - consent not installed in this checkout
        return False
    template = ConsentTemplate.current(session.treatment_type)
    if template is None:
        label = TreatmentType(session.treatment_type).label
        template = consent_template_publish(
            actor=None,
            treatment_type=session.treatment_type,
            title=f"Consent to treatment with exosomes ({label})",
            body=(
                "What the treatment involves, its expected effects and risks (redness, swelling, "
                "bruising), the alternatives, and aftercare. The evidence for exosome treatments is "
                "still emerging: there are no large phase 3 trials yet. Clinical photographs are "
                "taken at each session to follow the response."
            ),
        )
    consent_sign(
        actor=session.practitioner,
        patient=patient,
        template=template,
        typed_name=str(patient),
        signature_data_url=_signature(),
        scope_treatment=True,
        scope_photography=True,
        # One demo patient in two also agrees to marketing use.
        scope_marketing=patient.pk % 2 == 0,
    )
    return True


def _photograph(patient: Patient, sessions: list[Session]) -> int:
    hair = sessions[0].treatment_type == TreatmentType.HAIR
    views = SCALP_VIEWS if hair else FACE_VIEWS
    rng = random.Random(patient.pk)
    made = 0
    for index, session in enumerate(sessions):
        # 0 at the first session, approaching 1 at the last: how far the response has come.
        progress = index / max(1, len(sessions) - 1)
        uploads = []
        for view in views:
            for tag in (PhotoTag.BEFORE, PhotoTag.AFTER):
                if tag == PhotoTag.AFTER and view != views[0]:
                    continue  # after the session only the main view, as clinics usually do
                # Just after a treatment the skin is flushed; the progress shows at the next visit.
                flush = 0.35 if tag == PhotoTag.AFTER else 0.0
                content = (
                    _scalp(rng, view, density=0.35 + 0.5 * progress)
                    if hair
                    else _face(rng, view, blemishes=1.0 - 0.75 * progress, flush=flush)
                )
                name = f"IMG_{session.pk:04d}_{view}_{tag}.jpg"
                uploads.append(
                    PhotoUpload(
                        file=SimpleUploadedFile(name, content, content_type="image/jpeg"),
                        filename=name,
                        tag=tag,
                        view=view,
                        area=AREAS.get(view, ""),
                    )
                )
        outcomes = photo_upload(actor=session.practitioner, session=session, uploads=uploads)
        made += sum(1 for o in outcomes if o.ok)
    return made


# --- drawing -------------------------------------------------------------------------------------

SKIN = (224, 182, 160)
BACKDROP = (236, 238, 240)


def _face(rng: random.Random, view: str, *, blemishes: float, flush: float) -> bytes:
    """A stylised face on a clinic backdrop; red marks fade as ``blemishes`` goes to 0."""
    width, height = SIZE
    image = Image.new("RGB", SIZE, BACKDROP)
    draw = ImageDraw.Draw(image)
    shift = {PhotoView.LEFT_45: -170, PhotoView.RIGHT_45: 170}.get(view, 0)
    cx, cy = width // 2 + shift // 2, height // 2
    face = (cx - 330, cy - 450, cx + 330, cy + 450)
    draw.rectangle((cx - 150, cy + 380, cx + 150, height), fill=tuple(c - 12 for c in SKIN))  # neck
    draw.ellipse(face, fill=SKIN)
    draw.chord((cx - 350, cy - 520, cx + 350, cy - 80), 180, 360, fill=(92, 64, 51))  # hair
    eye_dx = 130
    for ex in (cx - eye_dx + shift // 3, cx + eye_dx + shift // 3):
        draw.ellipse((ex - 45, cy - 90, ex + 45, cy - 50), fill=(250, 250, 250))
        draw.ellipse((ex - 18, cy - 88, ex + 18, cy - 52), fill=(70, 50, 40))
    nose_x = cx + shift // 2
    draw.line((nose_x, cy - 40, nose_x + (20 if shift >= 0 else -20), cy + 90), fill=(190, 150, 130), width=8)
    draw.arc(
        (cx - 110 + shift // 3, cy + 130, cx + 110 + shift // 3, cy + 230),
        20,
        160,
        fill=(170, 90, 90),
        width=10,
    )

    marks = Image.new("L", SIZE, 0)
    mark_draw = ImageDraw.Draw(marks)
    for _ in range(int(140 * blemishes)):
        x = rng.randint(face[0] + 80, face[2] - 80)
        y = rng.randint(cy - 20, face[3] - 120)
        r = rng.randint(6, 16)
        mark_draw.ellipse((x - r, y - r, x + r, y + r), fill=rng.randint(90, 170))
    if flush:
        mark_draw.ellipse((cx - 260, cy - 40, cx + 260, cy + 300), fill=int(255 * flush))
    marks = marks.filter(ImageFilter.GaussianBlur(6))
    image.paste((200, 70, 70), mask=marks)
    # A soft vignette-free sensor noise so the JPEG is not a flat cartoon.
    return _jpeg_with_gps(image.filter(ImageFilter.SMOOTH))


def _scalp(rng: random.Random, view: str, *, density: float) -> bytes:
    """A scalp seen from above: more hair strands as ``density`` rises."""
    width, height = SIZE
    image = Image.new("RGB", SIZE, BACKDROP)
    draw = ImageDraw.Draw(image)
    cx, cy = width // 2, height // 2 + (80 if view == PhotoView.SCALP_CROWN else 0)
    draw.ellipse((cx - 480, cy - 560, cx + 480, cy + 560), fill=SKIN)
    strands = int(9000 * density)
    for _ in range(strands):
        x = rng.randint(cx - 470, cx + 470)
        y = rng.randint(cy - 550, cy + 550)
        if ((x - cx) / 480) ** 2 + ((y - cy) / 560) ** 2 > 1:
            continue
        # Thinning is worst at the centre (vertex/crown): skip strands there more often.
        centre = 1 - min(1.0, (((x - cx) / 300) ** 2 + ((y - cy) / 340) ** 2) ** 0.5)
        if rng.random() < centre * (1 - density):
            continue
        dx, dy = rng.randint(-14, 14), rng.randint(10, 26)
        draw.line((x, y, x + dx, y + dy), fill=(60, 42, 32), width=2)
    return _jpeg_with_gps(image)


def _jpeg_with_gps(image: Image.Image) -> bytes:
    """Encoded as a phone would: EXIF with a GPS position (the upload strips it)."""
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "DemoPhone"
    exif[ExifTags.IFD.GPSInfo] = {
        ExifTags.GPS.GPSLatitudeRef: "N",
        ExifTags.GPS.GPSLatitude: (51.0, 31.0, 12.0),
        ExifTags.GPS.GPSLongitudeRef: "W",
        ExifTags.GPS.GPSLongitude: (0.0, 9.0, 5.0),
    }
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=88, exif=exif, comment=b"demo camera")
    return buffer.getvalue()


def _signature() -> str:
    image = Image.new("RGBA", (300, 100), (0, 0, 0, 0))
    ImageDraw.Draw(image).line(
        [(10, 80), (70, 25), (130, 70), (200, 30), (285, 60)], fill=(17, 17, 17, 255), width=3
    )
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()

"""Photo pages: upload from a session, the patient's gallery and comparison, and file serving.

Every page checks the ``photos.*`` permission (front desk holds none: 403), fetches through
``for_user`` (another location: 404) and then the consent rule (withdrawn photography consent:
403 for everyone but managers, audited). Files are only ever served by ``photo_file``, which
audits each view.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from clinic.files import private_file_response
from clinic.scoping import get_for_user_or_404
from treatments.models import Patient, Session
from treatments.photos import services
from treatments.photos.forms import RetireForm, UploadDefaultsForm
from treatments.photos.models import RENDITIONS, VIEW_ORDER, Photo, PhotoTag, PhotoView
from treatments.views.common import error_messages

#: Sessions offered as upload targets on the gallery page (the most recent ones).
UPLOAD_TARGETS = 6


def _withheld_response(
    request: HttpRequest, patient: Patient, *, photo: Photo | None, what: str
) -> HttpResponse:
    """403 with the reason, and an audit row saying what was refused to whom."""
    services.photo_view_refused(actor=request.user, patient=patient, photo=photo, what=what)
    return render(request, "photos/withheld.html", {"patient": patient}, status=403)


def _photos_of(request: HttpRequest, patient: Patient):
    return (
        Photo.objects.for_user(request.user)
        .active()
        .filter(patient=patient)
        .select_related("session")
        .chronological()
    )


# --- Serving ---------------------------------------------------------------------------------


@permission_required("photos.view_photo", raise_exception=True)
@require_GET
def photo_file(request: HttpRequest, pk: int, rendition: str) -> HttpResponse:
    """One rendition of one photo, after role, location and consent checks; every view audited."""
    if rendition not in RENDITIONS:
        raise Http404("No such rendition.")
    photo = get_for_user_or_404(
        Photo.objects.active().select_related("patient", "location"), request.user, pk=pk
    )
    if services.photos_withheld(user=request.user, patient=photo.patient):
        return _withheld_response(request, photo.patient, photo=photo, what=rendition)
    services.photo_view_record(actor=request.user, photo=photo, rendition=rendition)
    name, _, _ = photo.rendition(rendition)
    return private_file_response(
        name=name,
        # No patient name: a saved file's name must not leak who it shows.
        download_name=f"photo-{photo.pk}-{rendition}.jpg",
        content_type="image/jpeg",
        as_attachment=False,
    )


# --- Upload ----------------------------------------------------------------------------------


@permission_required("photos.add_photo", raise_exception=True)
@require_http_methods(["GET", "POST"])
def photo_upload(request: HttpRequest, session_pk: int) -> HttpResponse:
    session = get_for_user_or_404(
        Session.objects.select_related("patient", "location", "practitioner"), request.user, pk=session_pk
    )
    consented = services.photography_consented(session.patient)
    form = UploadDefaultsForm(request.POST or None)
    outcomes: list[services.UploadOutcome] = []
    status = 200
    if request.method == "POST":
        if form.is_valid():
            defaults = form.cleaned_data
            files = request.FILES.getlist("photos")
            uploads = [
                services.PhotoUpload(
                    file=f,
                    filename=f.name,
                    # Per-file choices come from the rows photos.js adds, which submit a field only
                    # once the user has changed it: absent means "the batch choice" (also without JS).
                    tag=request.POST.get(f"tag-{i}") or defaults["tag"],
                    view=request.POST.get(f"view-{i}") or defaults["view"],
                    area=request.POST.get(f"area-{i}", defaults["area"]),
                )
                for i, f in enumerate(files)
            ]
            try:
                outcomes = services.photo_upload(actor=request.user, session=session, uploads=uploads)
            except ValidationError as exc:
                for message in error_messages(exc):
                    form.add_error(None, message)
            else:
                saved = [o for o in outcomes if o.ok]
                for outcome in outcomes:
                    if not outcome.ok:
                        messages.error(request, f"{outcome.filename} was not saved: {outcome.error}")
                if saved:
                    messages.success(
                        request,
                        f"Saved {len(saved)} photo{'s' if len(saved) != 1 else ''} of {session.patient}.",
                    )
                    return redirect(
                        reverse("photos:gallery", args=[session.patient_id]) + f"#session-{session.pk}"
                    )
        status = 400
    return render(
        request,
        "photos/upload.html",
        {
            "session": session,
            "patient": session.patient,
            "form": form,
            "consented": consented,
            "outcomes": outcomes,
            "tags": PhotoTag.choices,
            "views": PhotoView.choices,
            "max_files": services.MAX_FILES_PER_UPLOAD,
        },
        status=status,
    )


# --- Guided capture at the chair -------------------------------------------------------------

#: The views a sitting is shot in, in order; the page starts with the first not yet taken.
CAPTURE_VIEWS = PhotoView.choices


def _baselines(user, session: Session) -> dict[str, Photo]:
    """Per view, the photo the next one should match: the patient's first "before" photo of
    that view from an earlier session, else their earliest photo of it there."""
    earlier = (
        Photo.objects.for_user(user)
        .active()
        .filter(patient_id=session.patient_id, session__starts_at__lt=session.starts_at)
        .exclude(session=session)
        .select_related("session")
        .order_by("session__starts_at", "pk")
    )
    baselines: dict[str, Photo] = {}
    for photo in earlier:
        current = baselines.get(photo.view)
        if current is None or (photo.tag == PhotoTag.BEFORE and current.tag != PhotoTag.BEFORE):
            baselines[photo.view] = photo
    return baselines


def _capture_session(request: HttpRequest, session_pk: int) -> Session:
    return get_for_user_or_404(
        Session.objects.select_related("patient", "location", "practitioner"), request.user, pk=session_pk
    )


@permission_required("photos.add_photo", raise_exception=True)
@require_GET
def photo_capture(request: HttpRequest, session_pk: int) -> HttpResponse:
    """Take the session's photos with the tablet's camera, each view over a ghost of its
    baseline with an alignment grid; the frames are stored exactly as uploads are."""
    session = _capture_session(request, session_pk)
    consented = services.photography_consented(session.patient)
    baselines = _baselines(request.user, session) if consented else {}
    taken = list(
        Photo.objects.for_user(request.user).active().filter(session=session).values_list("view", flat=True)
    )
    views = [
        {
            "value": value,
            "label": label,
            "baseline": (
                {
                    "url": reverse("photos:photo_file", args=[b.pk, "display"]),
                    "when": date_format(timezone.localtime(b.session.starts_at), "j M Y"),
                    "tag": b.get_tag_display(),
                }
                if (b := baselines.get(value))
                else None
            ),
            "taken": taken.count(value),
        }
        for value, label in CAPTURE_VIEWS
    ]
    first = next((v["value"] for v in views if not v["taken"]), views[0]["value"])
    return render(
        request,
        "photos/capture.html",
        {
            "session": session,
            "patient": session.patient,
            "consented": consented,
            "views": views,
            "first_view": first,
            "tags": PhotoTag.choices,
            "no_photos": session.status in services.NO_PHOTO_SESSION,
        },
    )


@permission_required("photos.add_photo", raise_exception=True)
@require_POST
def photo_capture_upload(request: HttpRequest, session_pk: int) -> JsonResponse:
    """One captured frame, stored through the same service as an upload (processing, consent,
    audit); answers JSON for the capture page."""
    session = _capture_session(request, session_pk)
    frame = request.FILES.get("photo")
    if frame is None:
        return JsonResponse({"ok": False, "error": "No photo was received; take it again."}, status=400)
    upload = services.PhotoUpload(
        file=frame,
        filename=frame.name or "capture.jpg",
        tag=request.POST.get("tag", ""),
        view=request.POST.get("view", ""),
        area=request.POST.get("area", "")[:80],
    )
    try:
        (outcome,) = services.photo_upload(actor=request.user, session=session, uploads=[upload])
    except ValidationError as exc:
        return JsonResponse({"ok": False, "error": " ".join(error_messages(exc))}, status=400)
    if not outcome.ok or outcome.photo is None:
        return JsonResponse({"ok": False, "error": outcome.error}, status=400)
    photo = outcome.photo
    return JsonResponse(
        {
            "ok": True,
            "photo": photo.pk,
            "view": photo.get_view_display(),
            "tag": photo.get_tag_display(),
            "thumb": reverse("photos:photo_file", args=[photo.pk, "thumb"]),
            "detail": reverse("photos:photo_detail", args=[photo.pk]),
        }
    )


# --- Gallery, comparison, one photo ------------------------------------------------------------


@permission_required("photos.view_photo", raise_exception=True)
@require_GET
def gallery(request: HttpRequest, patient_pk: int) -> HttpResponse:
    """A grid of views × sessions of one patient, thumbnails only."""
    patient = get_for_user_or_404(Patient.objects.select_related("location"), request.user, pk=patient_pk)
    if services.photos_withheld(user=request.user, patient=patient):
        return _withheld_response(request, patient, photo=None, what="gallery")
    photos = list(_photos_of(request, patient))
    sessions: list[Session] = []
    seen: set[int] = set()
    for photo in photos:
        if photo.session_id not in seen:
            seen.add(photo.session_id)
            sessions.append(photo.session)
    column = {s.pk: i for i, s in enumerate(sessions)}
    views = sorted({p.view for p in photos}, key=VIEW_ORDER.__getitem__)
    grid: dict[str, list[list[Photo]]] = {v: [[] for _ in sessions] for v in views}
    for photo in photos:
        grid[photo.view][column[photo.session_id]].append(photo)
    rows = [(PhotoView(v).label, grid[v]) for v in views]
    targets = []
    if request.user.has_perm("photos.add_photo"):
        targets = list(
            Session.objects.for_user(request.user)
            .filter(patient=patient)
            .exclude(status__in=services.NO_PHOTO_SESSION)
            .order_by("-starts_at")[:UPLOAD_TARGETS]
        )
    return render(
        request,
        "photos/gallery.html",
        {
            "patient": patient,
            "sessions": sessions,
            "rows": rows,
            "count": len(photos),
            "targets": targets,
            "consented": services.photography_consented(patient),
        },
    )


def _default_pair(candidates: list[Photo]) -> tuple[Photo | None, Photo | None]:
    """The first "before" photo (else the first) against the latest photo of the view from a
    later session (else the latest other photo): progress across sessions, not within one."""
    if not candidates:
        return None, None
    left = next((p for p in candidates if p.tag == PhotoTag.BEFORE), candidates[0])
    later = [p for p in candidates if p.session.starts_at > left.session.starts_at]
    right = later[-1] if later else next((p for p in reversed(candidates) if p.pk != left.pk), None)
    return left, right


def time_between(earlier: Photo, later: Photo) -> str:
    """ "11 weeks apart", "the same session", … from the sessions' dates."""
    if earlier.session_id == later.session_id:
        return "the same session"
    days = abs(
        (timezone.localdate(later.session.starts_at) - timezone.localdate(earlier.session.starts_at)).days
    )
    if days < 14:
        return f"{days} day{'s' if days != 1 else ''} apart"
    if days < 120:
        return f"{days // 7} weeks apart"
    months = round(days / 30.44)
    return f"{months} months apart"


def _pick(candidates: list[Photo], value: str | None) -> Photo | None:
    by_pk = {str(p.pk): p for p in candidates}
    return by_pk.get(value or "")


@permission_required("photos.view_photo", raise_exception=True)
@require_GET
def compare(request: HttpRequest, patient_pk: int) -> HttpResponse:
    """Two photos of the same view side by side, and the same pair under an overlay slider."""
    patient = get_for_user_or_404(Patient.objects.select_related("location"), request.user, pk=patient_pk)
    if services.photos_withheld(user=request.user, patient=patient):
        return _withheld_response(request, patient, photo=None, what="compare")
    photos = list(_photos_of(request, patient))
    by_view: dict[str, list[Photo]] = {}
    for photo in photos:
        by_view.setdefault(photo.view, []).append(photo)
    views = sorted(by_view, key=VIEW_ORDER.__getitem__)
    view = request.GET.get("view")
    if view not in by_view:
        # The first view with two photos to compare, else any.
        view = next((v for v in views if len(by_view[v]) > 1), views[0] if views else None)
    candidates = by_view.get(view, [])
    left, right = _default_pair(candidates)
    left = _pick(candidates, request.GET.get("left")) or left
    right = _pick(candidates, request.GET.get("right")) or right
    return render(
        request,
        "photos/compare.html",
        {
            "patient": patient,
            "views": [(v, PhotoView(v).label, len(by_view[v])) for v in views],
            "view": view,
            "view_label": PhotoView(view).label if view else "",
            "candidates": candidates,
            "left": left,
            "right": right,
            "between": time_between(left, right) if left and right else "",
        },
    )


@permission_required("photos.view_photo", raise_exception=True)
@require_GET
def photo_detail(request: HttpRequest, pk: int) -> HttpResponse:
    photo = get_for_user_or_404(
        Photo.objects.active().select_related("patient", "session", "location", "taken_by"),
        request.user,
        pk=pk,
    )
    if services.photos_withheld(user=request.user, patient=photo.patient):
        return _withheld_response(request, photo.patient, photo=photo, what="detail")
    return render(
        request,
        "photos/photo_detail.html",
        {
            "photo": photo,
            "patient": photo.patient,
            "retire_form": RetireForm(),
            "marketing_consented": services.marketing_consented(photo.patient),
        },
    )


@permission_required("photos.flag_marketing", raise_exception=True)
@require_POST
def photo_marketing(request: HttpRequest, pk: int) -> HttpResponse:
    photo = get_for_user_or_404(Photo.objects.active().select_related("patient"), request.user, pk=pk)
    if services.photos_withheld(user=request.user, patient=photo.patient):
        return _withheld_response(request, photo.patient, photo=photo, what="marketing")
    wanted = request.POST.get("marketing_use") == "1"
    try:
        services.photo_flag_marketing(actor=request.user, photo=photo, marketing_use=wanted)
    except ValidationError as exc:
        for message in error_messages(exc):
            messages.error(request, message)
    else:
        messages.success(
            request, "Marked for marketing use." if wanted else "No longer marked for marketing use."
        )
    return redirect("photos:photo_detail", pk=photo.pk)


@permission_required("photos.retire_photo", raise_exception=True)
@require_POST
def photo_retire(request: HttpRequest, pk: int) -> HttpResponse:
    photo = get_for_user_or_404(Photo.objects.active().select_related("patient"), request.user, pk=pk)
    if services.photos_withheld(user=request.user, patient=photo.patient):
        return _withheld_response(request, photo.patient, photo=photo, what="retire")
    form = RetireForm(request.POST)
    if form.is_valid():
        try:
            services.photo_retire(actor=request.user, photo=photo, reason=form.cleaned_data["reason"])
        except ValidationError as exc:
            for message in error_messages(exc):
                messages.error(request, message)
            return redirect("photos:photo_detail", pk=photo.pk)
        messages.success(request, "The photo is retired; it no longer shows on any page.")
        return redirect("photos:gallery", patient_pk=photo.patient_id)
    for errors in form.errors.values():
        for message in errors:
            messages.error(request, message)
    return redirect("photos:photo_detail", pk=photo.pk)

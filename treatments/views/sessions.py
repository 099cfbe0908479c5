"""Booking, rescheduling and the status buttons of a session (check in, start, complete…)."""

from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from clinic.forms import parse_id
from clinic.scoping import get_for_user_or_404, locations_for
from treatments import services
from treatments.calendar import bookable_practitioners
from treatments.consent import treatment_consent_for
from treatments.forms import BookingForm, CancelForm, RescheduleForm
from treatments.models import (
    ConsentTemplate,
    Patient,
    Room,
    Screening,
    Session,
    SessionChange,
    TreatmentPlan,
    TreatmentRecord,
)
from treatments.services.intake import intake_submissions_for
from treatments.views.common import add_errors, flash_errors, safe_next


def _calendar_url(session_or_location, day: dt.date) -> str:
    location_id = getattr(session_or_location, "location_id", None) or session_or_location.pk
    return f"{reverse('treatments:calendar_day')}?date={day.isoformat()}&location={location_id}"


def _initial_from_query(request: HttpRequest, locations) -> dict:
    """Prefill from a calendar slot (?practitioner=&start=&location=) or a patient/plan (?patient=&plan=)."""
    q = request.GET
    initial: dict = {"duration_minutes": 45}
    if q.get("start"):
        try:
            start = dt.datetime.fromisoformat(q["start"])
            initial["date"], initial["time"] = start.date(), start.time().replace(second=0, microsecond=0)
        except ValueError:
            pass
    # Ids that cannot be ids are dropped: the form starts empty there, as without the parameter.
    for name in ("practitioner", "patient", "location", "plan"):
        if parse_id(q.get(name)) is not None:
            initial[name] = parse_id(q.get(name))
    if q.get("treatment_type"):
        initial["treatment_type"] = q["treatment_type"]
    if "location" not in initial and locations:
        initial["location"] = locations[0].pk
    return initial


@permission_required("treatments.add_session", raise_exception=True)
@require_http_methods(["GET", "POST"])
def session_book(request: HttpRequest) -> HttpResponse:
    locations = list(locations_for(request.user))
    data = request.POST or None
    initial = _initial_from_query(request, locations)
    patients = Patient.objects.for_user(request.user)
    if "location" not in request.GET and initial.get("patient") and len(locations) > 1:
        # Booked from a patient's page: at the patient's home clinic, not the user's first.
        home = patients.filter(pk=initial["patient"]).values_list("location_id", flat=True).first()
        if home is not None:
            initial["location"] = home
    location_id = (data or {}).get("location") or initial.get("location")
    location = next(
        (loc for loc in locations if str(loc.pk) == str(location_id)), locations[0] if locations else None
    )
    if location is None:
        messages.error(request, "You work at no location, so you cannot book.")
        return redirect("dashboard")
    if initial.get("plan") and not initial.get("treatment_type"):
        plan = TreatmentPlan.objects.for_user(request.user).filter(pk=initial["plan"]).first()
        if plan:
            initial["treatment_type"] = plan.treatment_type
    form = BookingForm(
        data,
        initial=initial,
        patients=patients,
        locations=locations_for(request.user),
        practitioners=bookable_practitioners(location),
        rooms=Room.objects.filter(location=location, is_active=True),
        can_override=request.user.has_perm("treatments.book_outside_hours"),
    )
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        plan = None
        if d.get("plan"):
            plan = (
                TreatmentPlan.objects.for_user(request.user)
                .filter(pk=d["plan"], patient=d["patient"])
                .first()
            )
        try:
            session = services.session_book(
                actor=request.user,
                patient=d["patient"],
                practitioner=d["practitioner"],
                location=d["location"],
                room=d["room"],
                plan=plan,
                treatment_type=d["treatment_type"],
                starts_at=form.starts_at(),
                duration_minutes=d["duration_minutes"],
                booking_notes=d["booking_notes"],
                override_hours=d.get("override_hours", False),
            )
        except ValidationError as exc:
            add_errors(form, exc)
        else:
            local = timezone.localtime(session.starts_at)
            messages.success(
                request,
                f"Booked {session.patient} with {d['practitioner'].get_full_name()} "
                f"at {local:%H:%M on %a %-d %b}.",
            )
            return redirect(_calendar_url(session, local.date()))
    chosen = None
    patient_id = form["patient"].value()
    if patient_id:
        chosen = patients.filter(pk=patient_id).first() if str(patient_id).isdigit() else None
    return render(
        request,
        "treatments/session_book.html",
        {"form": form, "location": location, "chosen_patient": chosen},
    )


@permission_required("treatments.view_session", raise_exception=True)
@require_GET
def session_detail(request: HttpRequest, pk: int) -> HttpResponse:
    session = get_for_user_or_404(
        Session.objects.select_related(
            "patient", "practitioner", "room", "location", "plan__template", "booked_by"
        ),
        request.user,
        pk=pk,
    )
    changes = SessionChange.objects.filter(session=session).select_related(
        "changed_by", "from_practitioner", "to_practitioner", "from_room", "to_room"
    )
    clinical = {}
    if request.user.has_perm("treatments.view_clinical_record"):
        clinical = {
            "consent": treatment_consent_for(session.patient, session.treatment_type, session=session),
            "consent_template": ConsentTemplate.current(session.treatment_type),
            "visit_screening": Screening.objects.filter(session=session)
            .select_related("overridden_by", "session")
            .first(),
            "has_screening": Screening.objects.filter(patient=session.patient).exists(),
            "record": TreatmentRecord.objects.filter(session=session).first(),
            "intake_submissions": intake_submissions_for(session),
        }
    return render(
        request,
        "treatments/session_detail.html",
        {
            **clinical,
            "session": session,
            "changes": changes,
            "cancel_form": CancelForm(),
            "now": timezone.now(),
            "today": timezone.localdate(),
        },
    )


@permission_required("treatments.change_session", raise_exception=True)
@require_http_methods(["GET", "POST"])
def session_reschedule(request: HttpRequest, pk: int) -> HttpResponse:
    session = get_for_user_or_404(
        Session.objects.select_related("patient", "location", "room", "practitioner"), request.user, pk=pk
    )
    local = timezone.localtime(session.starts_at)
    form = RescheduleForm(
        request.POST or None,
        initial={
            "date": local.date(),
            "time": local.time(),
            "duration_minutes": session.duration_minutes,
            "practitioner": session.practitioner_id,
            "room": session.room_id,
        },
        practitioners=bookable_practitioners(session.location),
        rooms=Room.objects.filter(location=session.location, is_active=True),
        can_override=request.user.has_perm("treatments.book_outside_hours"),
    )
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        try:
            session = services.session_reschedule(
                actor=request.user,
                session=session,
                starts_at=form.starts_at(),
                duration_minutes=d["duration_minutes"],
                practitioner=d["practitioner"],
                room=d["room"],
                reason=d["reason"],
                override_hours=d.get("override_hours", False),
            )
        except ValidationError as exc:
            add_errors(form, exc)
        else:
            messages.success(request, "The session is moved; the old time is kept in its history.")
            return redirect(_calendar_url(session, timezone.localtime(session.starts_at).date()))
    return render(request, "treatments/session_reschedule.html", {"form": form, "session": session})


def _status_action(request: HttpRequest, pk: int, service, done: str, **kwargs) -> HttpResponse:
    session = get_for_user_or_404(Session.objects.select_related("patient"), request.user, pk=pk)
    try:
        service(actor=request.user, session=session, **kwargs)
    except ValidationError as exc:
        flash_errors(request, exc)
    else:
        messages.success(request, done.format(patient=session.patient))
    return redirect(safe_next(request, reverse("treatments:session_detail", args=[pk])))


@permission_required("treatments.change_session", raise_exception=True)
@require_POST
def session_check_in(request: HttpRequest, pk: int) -> HttpResponse:
    return _status_action(request, pk, services.session_check_in, "{patient} is checked in.")


@permission_required("treatments.perform_session", raise_exception=True)
@require_POST
def session_start(request: HttpRequest, pk: int) -> HttpResponse:
    return _status_action(request, pk, services.session_start, "Treatment of {patient} started.")


@permission_required("treatments.perform_session", raise_exception=True)
@require_POST
def session_complete(request: HttpRequest, pk: int) -> HttpResponse:
    return _status_action(request, pk, services.session_complete, "Session of {patient} completed.")


@permission_required("treatments.change_session", raise_exception=True)
@require_POST
def session_no_show(request: HttpRequest, pk: int) -> HttpResponse:
    return _status_action(request, pk, services.session_no_show, "{patient} is marked as a no-show.")


@permission_required("treatments.change_session", raise_exception=True)
@require_POST
def session_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    form = CancelForm(request.POST)
    if not form.is_valid():
        get_for_user_or_404(Session.objects.all(), request.user, pk=pk)
        messages.error(request, "Say why the session is cancelled.")
        return redirect("treatments:session_detail", pk=pk)
    return _status_action(
        request,
        pk,
        services.session_cancel,
        "The session of {patient} is cancelled.",
        reason=form.cleaned_data["reason"],
    )

"""Patient search (page and type-ahead JSON), registration, editing and the patient's page."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import ValidationError
from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from clinic.audit import AuditAction, audit_record
from clinic.phones import phone_national
from clinic.scoping import get_for_user_or_404, locations_for
from clinic.tables import paginate, sort_queryset
from treatments import services
from treatments.clinical_forms import template_choices
from treatments.forms import PatientForm
from treatments.models import (
    UPCOMING,
    ContactAttempt,
    Patient,
    PatientConsent,
    Screening,
    Session,
    TreatmentPlan,
)
from treatments.reminders import patient_reminders
from treatments.views.common import add_errors, safe_next

SEARCH_LIMIT = 10


@permission_required("treatments.view_patient", raise_exception=True)
@require_GET
def patient_list(request: HttpRequest) -> HttpResponse:
    q = request.GET.get("q", "").strip()
    qs = Patient.objects.for_user(request.user).select_related("location")
    if q:
        qs = qs.search(q)
    qs, sort = sort_queryset(
        request,
        qs,
        {
            "name": "last_name_key",
            "born": "date_of_birth",
            "registered": "created_at",
            "location": "location__name",
        },
        "name",
    )
    return render(
        request, "treatments/patient_list.html", {"page": paginate(request, qs), "sort": sort, "q": q}
    )


@permission_required("treatments.view_patient", raise_exception=True)
@require_GET
def patient_search(request: HttpRequest) -> JsonResponse:
    """Type-ahead: up to ten matches as JSON, contact data only."""
    q = request.GET.get("q", "").strip()
    patients = (
        Patient.objects.for_user(request.user)
        .search(q)
        .select_related("location")
        .order_by("last_name_key", "first_name_key", "pk")[:SEARCH_LIMIT]
    )
    results = [
        {
            "id": p.pk,
            "name": str(p),
            "born": p.date_of_birth.strftime("%d/%m/%Y"),
            "phone": phone_national(p.phone),
            "location": p.location.name,
            "url": reverse("treatments:patient_detail", args=[p.pk]),
        }
        for p in patients
    ]
    response = JsonResponse({"query": q, "results": results})
    response["Cache-Control"] = "no-store"
    return response


@permission_required("treatments.add_patient", raise_exception=True)
@require_http_methods(["GET", "POST"])
def patient_create(request: HttpRequest) -> HttpResponse:
    form = PatientForm(request.POST or None, locations=locations_for(request.user))
    duplicates: list[Patient] = []
    if request.method == "POST" and form.is_valid():
        data = {k: v for k, v in form.cleaned_data.items() if k != "confirm_duplicate"}
        try:
            patient = services.patient_create(
                actor=request.user, confirm_duplicate=form.cleaned_data["confirm_duplicate"], **data
            )
        except services.DuplicatePatientError as exc:
            duplicates = exc.duplicates
            form.show_duplicate_confirmation()
            form.add_error(None, exc)
        except ValidationError as exc:
            add_errors(form, exc)
        else:
            messages.success(request, f"{patient} is registered.")
            back_to_booking = safe_next(request, "")
            if back_to_booking.startswith(reverse("treatments:session_book")):
                # Registered from the booking form: go back to the same slot with the patient chosen.
                joiner = "&" if "?" in back_to_booking else "?"
                return redirect(f"{back_to_booking}{joiner}patient={patient.pk}")
            return redirect("treatments:patient_detail", pk=patient.pk)
    visible = set(
        Patient.objects.for_user(request.user)
        .filter(pk__in=[d.pk for d in duplicates])
        .values_list("pk", flat=True)
    )
    return render(
        request,
        "treatments/patient_form.html",
        {
            "form": form,
            "title": "Register a patient",
            "duplicates": duplicates,
            "visible_duplicates": visible,
        },
    )


@permission_required("treatments.change_patient", raise_exception=True)
@require_http_methods(["GET", "POST"])
def patient_edit(request: HttpRequest, pk: int) -> HttpResponse:
    patient = get_for_user_or_404(Patient.objects.all(), request.user, pk=pk)
    form = PatientForm(request.POST or None, instance=patient, locations=locations_for(request.user))
    del form.fields["confirm_duplicate"]
    if request.method == "POST" and form.is_valid():
        try:
            services.patient_update(
                actor=request.user, patient=Patient.objects.get(pk=pk), **form.cleaned_data
            )
        except ValidationError as exc:
            add_errors(form, exc)
        else:
            messages.success(request, "The patient's details are saved.")
            return redirect("treatments:patient_detail", pk=pk)
    return render(
        request,
        "treatments/patient_form.html",
        {"form": form, "title": f"Edit {patient}", "patient": patient},
    )


@permission_required("treatments.view_patient", raise_exception=True)
@require_GET
def patient_detail(request: HttpRequest, pk: int) -> HttpResponse:
    patient = get_for_user_or_404(
        Patient.objects.select_related("location", "erasure_request"), request.user, pk=pk
    )
    sessions = Session.objects.filter(patient=patient).select_related("practitioner", "room", "location")
    now = timezone.now()
    upcoming = list(sessions.filter(status__in=UPCOMING, ends_at__gte=now).order_by("starts_at")[:20])
    past = list(sessions.exclude(pk__in=[s.pk for s in upcoming]).order_by("-starts_at")[:20])
    plans = list(
        TreatmentPlan.objects.filter(patient=patient)
        .select_related("template")
        .prefetch_related(
            Prefetch(
                "contact_attempts",
                queryset=ContactAttempt.objects.select_related("made_by").order_by("-made_at"),
            )
        )
        .order_by("status", "-created_at")
    )
    clinical = {}
    if request.user.has_perm("treatments.view_clinical_record"):
        clinical = {
            "consents": list(
                PatientConsent.objects.filter(patient=patient)
                .select_related("template", "practitioner")
                .prefetch_related("withdrawals")[:20]
            ),
            "screenings": list(
                Screening.objects.filter(patient=patient).select_related("overridden_by", "session")[:5]
            ),
            "consent_templates": template_choices(),
        }
    # Reading a patient record is itself recorded (who looked at whom, when).
    audit_record(actor=request.user, action=AuditAction.PATIENT_VIEW, obj=patient)
    return render(
        request,
        "treatments/patient_detail.html",
        {
            **clinical,
            "patient": patient,
            "erasure": getattr(patient, "erasure_request", None),
            "upcoming": upcoming,
            "past": past,
            "plans": plans,
            "reminders": list(patient_reminders(patient)[:20]),
            "today": timezone.localdate(),
        },
    )

"""Consent templates, signing and withdrawing consent, the printable consent, and screening.

Clinical pages: practitioners and managers of the patient's location only (the front desk
holds none of these permissions: 403; another location's patient: 404).
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from clinic.audit import AuditAction, audit_record
from clinic.files import private_file_response
from clinic.forms import parse_id
from clinic.scoping import get_for_user_or_404
from treatments import services
from treatments.clinical_forms import (
    ConsentSignForm,
    ConsentTemplateForm,
    OverrideForm,
    ScreeningForm,
    WithdrawForm,
    template_choices,
)
from treatments.models import ConsentTemplate, Patient, PatientConsent, Screening, Session
from treatments.views.common import add_errors, flash_errors, safe_next

CLINICAL = "treatments.view_clinical_record"


@permission_required([CLINICAL, "treatments.view_consenttemplate"], raise_exception=True)
@require_GET
def consent_template_list(request: HttpRequest) -> HttpResponse:
    templates = ConsentTemplate.objects.select_related("published_by").order_by("treatment_type", "-version")
    return render(request, "treatments/consent_template_list.html", {"templates": templates})


@permission_required([CLINICAL, "treatments.add_consenttemplate"], raise_exception=True)
@require_http_methods(["GET", "POST"])
def consent_template_publish(request: HttpRequest) -> HttpResponse:
    initial = {}
    base_id = parse_id(request.GET.get("from"))
    base = ConsentTemplate.objects.filter(pk=base_id).first() if base_id else None
    if base is not None:
        initial = {"treatment_type": base.treatment_type, "title": base.title, "body": base.body}
    form = ConsentTemplateForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            template = services.consent_template_publish(actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            add_errors(form, exc)
        else:
            messages.success(request, f"Published {template}. Consents already signed keep their version.")
            return redirect("treatments:consent_template_list")
    return render(request, "treatments/consent_template_form.html", {"form": form})


@permission_required([CLINICAL, "treatments.add_patientconsent"], raise_exception=True)
@require_http_methods(["GET", "POST"])
def consent_sign(request: HttpRequest, pk: int) -> HttpResponse:
    patient = get_for_user_or_404(Patient.objects.select_related("location"), request.user, pk=pk)
    session = None
    session_id = request.POST.get("session") or request.GET.get("session")
    if session_id:
        # An id that cannot be one (words, past 64 bits) is a session not found, like any other.
        session = get_for_user_or_404(
            Session.objects.filter(patient=patient), request.user, pk=parse_id(session_id)
        )
    template_id = request.POST.get("template") or request.GET.get("template")
    template_pk = parse_id(template_id)
    template = ConsentTemplate.objects.filter(pk=template_pk).first() if template_pk else None
    if template is None and session is not None:
        template = ConsentTemplate.current(session.treatment_type)
    if template is None:
        return render(
            request,
            "treatments/consent_choose.html",
            {"patient": patient, "templates": template_choices(), "session": session},
        )
    form = ConsentSignForm(request.POST or None, initial={"scope_treatment": True})
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        try:
            consent = services.consent_sign(
                actor=request.user,
                patient=patient,
                template=template,
                session=session,
                typed_name=d["typed_name"],
                signature_data_url=d["signature"],
                scope_treatment=d["scope_treatment"],
                scope_photography=d["scope_photography"],
                scope_marketing=d["scope_marketing"],
            )
        except ValidationError as exc:
            add_errors(form, exc)
        else:
            messages.success(request, f"{patient} signed {template}.")
            fallback = reverse("treatments:consent_detail", args=[consent.pk])
            if session is not None:
                fallback = reverse("treatments:session_detail", args=[session.pk])
            return redirect(safe_next(request, fallback))
    return render(
        request,
        "treatments/consent_sign.html",
        {"patient": patient, "template": template, "form": form, "session": session},
    )


def _consent_for(request: HttpRequest, pk: int) -> PatientConsent:
    return get_for_user_or_404(
        PatientConsent.objects.select_related(
            "patient__location", "template", "practitioner", "session"
        ).prefetch_related("withdrawals__recorded_by"),
        request.user,
        pk=pk,
    )


@permission_required([CLINICAL, "treatments.view_patientconsent"], raise_exception=True)
@require_GET
def consent_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """The signed consent as the patient saw it, laid out for printing."""
    consent = _consent_for(request, pk)
    audit_record(
        actor=request.user, action=AuditAction.CONSENT_VIEW, obj=consent, location=consent.patient.location
    )
    return render(
        request,
        "treatments/consent_detail.html",
        {"consent": consent, "withdraw_form": WithdrawForm()},
    )


@permission_required([CLINICAL, "treatments.view_patientconsent"], raise_exception=True)
@require_GET
def consent_signature(request: HttpRequest, pk: int) -> HttpResponse:
    consent = _consent_for(request, pk)
    audit_record(
        actor=request.user,
        action=AuditAction.CONSENT_VIEW_SIGNATURE,
        obj=consent,
        location=consent.patient.location,
    )
    return private_file_response(
        name=consent.signature_name,
        download_name=f"signature-{consent.pk}.png",
        content_type="image/png",
        as_attachment=False,
    )


@permission_required([CLINICAL, "treatments.change_patientconsent"], raise_exception=True)
@require_POST
def consent_withdraw(request: HttpRequest, pk: int) -> HttpResponse:
    consent = _consent_for(request, pk)
    form = WithdrawForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose what is withdrawn and record the reason given.")
    else:
        try:
            services.consent_withdraw(
                actor=request.user, consent=consent, scopes=form.scopes(), reason=form.cleaned_data["reason"]
            )
        except ValidationError as exc:
            flash_errors(request, exc)
        else:
            messages.success(request, "The withdrawal is recorded and applies from now.")
    return redirect(safe_next(request, reverse("treatments:consent_detail", args=[consent.pk])))


@permission_required([CLINICAL, "treatments.add_screening"], raise_exception=True)
@require_http_methods(["GET", "POST"])
def screening_create(request: HttpRequest, pk: int) -> HttpResponse:
    patient = get_for_user_or_404(Patient.objects.select_related("location"), request.user, pk=pk)
    session = None
    session_id = request.POST.get("session") or request.GET.get("session")
    if session_id:
        # An id that cannot be one (words, past 64 bits) is a session not found, like any other.
        session = get_for_user_or_404(
            Session.objects.filter(patient=patient), request.user, pk=parse_id(session_id)
        )
    previous = services.latest_screening(patient)
    form = ScreeningForm(request.POST or None, instance=Screening(patient=patient))
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        try:
            screening = services.screening_record(
                actor=request.user,
                patient=patient,
                session=session,
                answers={k: v for k, v in d.items() if k != "details"},
                details=d["details"],
            )
        except ValidationError as exc:
            add_errors(form, exc)
        else:
            if screening.contraindications:
                messages.warning(
                    request,
                    "Contraindicated: " + "; ".join(screening.contraindications) + ". "
                    "No treatment can be charted unless a practitioner overrides with a reason.",
                )
            else:
                messages.success(request, "Screening recorded.")
            fallback = reverse("treatments:patient_detail", args=[patient.pk]) + "#clinical-record"
            if session is not None:
                fallback = reverse("treatments:session_detail", args=[session.pk])
            return redirect(fallback)
    return render(
        request,
        "treatments/screening_form.html",
        {"patient": patient, "session": session, "form": form, "previous": previous},
    )


@permission_required([CLINICAL, "treatments.add_screening"], raise_exception=True)
@require_POST
def screening_confirm(request: HttpRequest, pk: int) -> HttpResponse:
    session = get_for_user_or_404(Session.objects.select_related("patient", "location"), request.user, pk=pk)
    try:
        services.screening_confirm(actor=request.user, session=session)
    except ValidationError as exc:
        flash_errors(request, exc)
    else:
        messages.success(request, "The patient confirmed their screening answers are unchanged.")
    return redirect("treatments:session_detail", pk=pk)


@permission_required([CLINICAL, "treatments.override_screening"], raise_exception=True)
@require_POST
def screening_override(request: HttpRequest, pk: int) -> HttpResponse:
    screening = get_for_user_or_404(Screening.objects.select_related("patient"), request.user, pk=pk)
    form = OverrideForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Write the clinical reason for the override.")
    else:
        try:
            services.screening_override(
                actor=request.user, screening=screening, reason=form.cleaned_data["reason"]
            )
        except ValidationError as exc:
            flash_errors(request, exc)
        else:
            messages.success(request, "Override recorded (and audited).")
    fallback = reverse("treatments:patient_detail", args=[screening.patient_id]) + "#clinical-record"
    if screening.session_id:
        fallback = reverse("treatments:session_detail", args=[screening.session_id])
    return redirect(safe_next(request, fallback))

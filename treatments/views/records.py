"""Charting a session (record with product lines), the record page, sign-off and addenda,
and the patient timeline. Practitioners chart; managers read."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from clinic.audit import AuditAction, audit_record
from clinic.scoping import get_for_user_or_404
from treatments import services
from treatments.consent import treatment_consent_for
from treatments.models import (
    Addendum,
    AdverseEvent,
    Patient,
    ProductLine,
    Screening,
    Session,
    TreatmentRecord,
)
from treatments.record_forms import (
    AddendumForm,
    LineForm,
    RecordForm,
    known_lots,
    known_vials,
    lot_offers,
    open_vials,
)
from treatments.timeline import patient_timeline_page
from treatments.views.common import error_messages, flash_errors

CLINICAL = "treatments.view_clinical_record"
LINE_FORMS = 3


def _record_initial(record: TreatmentRecord | None) -> dict:
    if record is None:
        return {"anaesthesia": "none"}
    return {
        "combined_procedure": record.combined_procedure,
        "combined_settings": record.combined_settings,
        "anaesthesia": record.anaesthesia,
        "post_care": record.post_care,
        "notes": record.notes,
    }


@permission_required([CLINICAL, "treatments.add_treatmentrecord"], raise_exception=True)
@require_http_methods(["GET", "POST"])
def record_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """Chart the session: checks, procedure and product lines; saving draws the stock."""
    session = get_for_user_or_404(
        Session.objects.select_related("patient", "location", "practitioner"), request.user, pk=pk
    )
    record = TreatmentRecord.objects.filter(session=session).first()
    if record is not None and record.is_signed:
        messages.info(request, "This record is signed; corrections are addenda.")
        return redirect("treatments:record_detail", pk=record.pk)
    if record is not None and request.method == "GET":
        # Opening a draft shows its clinical content: a read like the record page.
        audit_record(
            actor=request.user,
            action=AuditAction.TREATMENT_RECORD_VIEW,
            obj=record,
            location=session.location,
        )
    offers, not_offered = lot_offers(request.user, session.location)
    vials = open_vials(request.user, session.location)
    data = request.POST if request.method == "POST" else None
    extra = {}
    if data is not None:
        extra = {
            "known_lots": known_lots(request.user, session.location),
            "known_vials": known_vials(request.user, session.location),
        }
    form = RecordForm(data, initial=_record_initial(record))
    first = {"lot": str(offers[0].lot.pk)} if offers and record is None else {}
    lines = [
        LineForm(
            data,
            prefix=f"line{i}",
            offers=offers,
            vials=vials,
            initial={"source": "sealed", **(first if i == 0 else {})},
            **extra,
        )
        for i in range(LINE_FORMS)
    ]
    if data is not None and form.is_valid() and all(line.is_valid() for line in lines):
        d = form.cleaned_data
        try:
            result = services.treatment_record_save(
                actor=request.user,
                session=session,
                lines=[line.to_input() for line in lines if not line.is_blank],
                screening_confirmed=d["screening_confirmed"],
                consent_checked=d["consent_checked"],
                combined_procedure=d["combined_procedure"],
                combined_settings=d["combined_settings"],
                anaesthesia=d["anaesthesia"],
                post_care=d["post_care"],
                notes=d["notes"],
                adverse_events=form.adverse_events(),
            )
        except ValidationError as exc:
            for message in error_messages(exc):
                form.add_error(None, message)
        except PermissionDenied as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, "Treatment record saved; the stock used is taken from the lots.")
            for warning in result.warnings:
                messages.warning(request, warning)
            return redirect("treatments:record_detail", pk=result.record.pk)
    return render(
        request,
        "treatments/record_form.html",
        {
            "session": session,
            "record": record,
            "form": form,
            "lines": lines,
            "offers": offers,
            "not_offered": not_offered,
            "consent": treatment_consent_for(session.patient, session.treatment_type),
            "visit_screening": Screening.objects.filter(session=session).first(),
            "existing_lines": list(
                ProductLine.objects.filter(record=record).select_related("lot__product") if record else []
            ),
        },
    )


def _record_queryset():
    return TreatmentRecord.objects.select_related(
        "session__patient__location",
        "session__location",
        "practitioner",
        "signed_by",
        "consent__template",
        "screening",
    ).prefetch_related(
        Prefetch("lines", queryset=ProductLine.objects.select_related("lot__product", "opened_vial")),
        Prefetch("adverse_events", queryset=AdverseEvent.objects.select_related("recorded_by")),
        Prefetch("addenda", queryset=Addendum.objects.select_related("written_by")),
    )


@permission_required([CLINICAL, "treatments.view_treatmentrecord"], raise_exception=True)
@require_GET
def record_detail(request: HttpRequest, pk: int) -> HttpResponse:
    record = get_for_user_or_404(_record_queryset(), request.user, pk=pk)
    audit_record(
        actor=request.user,
        action=AuditAction.TREATMENT_RECORD_VIEW,
        obj=record,
        location=record.session.location,
    )
    return render(
        request,
        "treatments/record_detail.html",
        {"record": record, "session": record.session, "addendum_form": AddendumForm()},
    )


@permission_required([CLINICAL, "treatments.sign_treatmentrecord"], raise_exception=True)
@require_POST
def record_sign(request: HttpRequest, pk: int) -> HttpResponse:
    record = get_for_user_or_404(TreatmentRecord.objects.all(), request.user, pk=pk)
    try:
        services.treatment_record_sign(actor=request.user, record=record)
    except ValidationError as exc:
        flash_errors(request, exc)
    else:
        messages.success(request, "Record signed and locked. Complete the session when the patient leaves.")
    return redirect("treatments:record_detail", pk=pk)


@permission_required([CLINICAL, "treatments.add_addendum"], raise_exception=True)
@require_POST
def record_addendum(request: HttpRequest, pk: int) -> HttpResponse:
    record = get_for_user_or_404(TreatmentRecord.objects.all(), request.user, pk=pk)
    form = AddendumForm(request.POST)
    if not form.is_valid():
        messages.error(request, "An addendum needs its reason and the correction.")
    else:
        try:
            services.treatment_record_addendum(actor=request.user, record=record, **form.cleaned_data)
        except ValidationError as exc:
            flash_errors(request, exc)
        else:
            messages.success(request, "Addendum added; the signed record is unchanged above it.")
    return redirect("treatments:record_detail", pk=pk)


@permission_required([CLINICAL, "treatments.view_treatmentrecord"], raise_exception=True)
@require_GET
def patient_timeline(request: HttpRequest, pk: int) -> HttpResponse:
    """Everything clinical about a patient, newest first, a page at a time (fixed query count)."""
    patient = get_for_user_or_404(Patient.objects.select_related("location"), request.user, pk=pk)
    page = patient_timeline_page(patient, request.GET.get("page"))
    audit_record(actor=request.user, action=AuditAction.PATIENT_TIMELINE_VIEW, obj=patient)
    return render(request, "treatments/patient_timeline.html", {"patient": patient, "page": page})

"""A patient's data rights, for managers: the subject-access export, restriction and erasure."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from clinic.audit import AuditAction, audit_record
from clinic.files import private_stream_response
from clinic.scoping import AuthenticatedHttpRequest, get_for_user_or_404
from treatments.forms import DataRightsReasonForm, ErasureRequestForm
from treatments.models import ErasureRequest, Patient
from treatments.rights.erasure import erasure_request_record, open_recalls
from treatments.rights.export import subject_access_build, subject_access_zip
from treatments.rights.restriction import patient_restrict, patient_restriction_lift
from treatments.views.common import add_errors


def _patient(request: AuthenticatedHttpRequest, pk: int) -> Patient:
    return get_for_user_or_404(
        Patient.objects.select_related("location", "restricted_by"), request.user, pk=pk
    )


def _page(
    request: AuthenticatedHttpRequest,
    patient: Patient,
    *,
    form: DataRightsReasonForm | None = None,
    erasure_form: ErasureRequestForm | None = None,
    status: int = 200,
) -> HttpResponse:
    erasure = ErasureRequest.objects.filter(patient=patient).select_related("recorded_by").first()
    return render(
        request,
        "treatments/rights/patient_rights.html",
        {
            "patient": patient,
            "form": form or DataRightsReasonForm(),
            "erasure": erasure,
            "erasure_form": erasure_form or ErasureRequestForm(initial={"received_on": timezone.localdate()}),
            "open_recalls": open_recalls(patient) if erasure and erasure.pending else [],
            "retention_years": settings.CLINICAL_RETENTION_YEARS,
        },
        status=status,
    )


@permission_required("treatments.manage_data_rights", raise_exception=True)
@require_GET
def patient_rights(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    return _page(request, _patient(request, pk))


@permission_required("treatments.manage_data_rights", raise_exception=True)
@require_POST
def patient_export(request: AuthenticatedHttpRequest, pk: int):
    """The subject-access ZIP, streamed. Audited before the first byte leaves."""
    patient = _patient(request, pk)
    export = subject_access_build(patient)
    audit_record(
        actor=request.user,
        action=AuditAction.PATIENT_EXPORT,
        obj=patient,
        location=patient.location,
        after={
            "files": len(export.files),
            **{k: len(v) for k, v in export.data.items() if isinstance(v, list)},
        },
    )
    return private_stream_response(
        subject_access_zip(export), download_name=export.filename, content_type="application/zip"
    )


@permission_required("treatments.manage_data_rights", raise_exception=True)
@require_POST
def patient_restriction(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Restrict, or lift the restriction (the button pressed says which)."""
    patient = _patient(request, pk)
    form = DataRightsReasonForm(request.POST)
    lifting = patient.is_restricted
    if form.is_valid():
        try:
            if lifting:
                patient_restriction_lift(
                    actor=request.user, patient=patient, reason=form.cleaned_data["reason"]
                )
            else:
                patient_restrict(actor=request.user, patient=patient, reason=form.cleaned_data["reason"])
        except ValidationError as exc:
            add_errors(form, exc)
        else:
            if lifting:
                messages.success(request, f"The restriction on {patient} is lifted; reminders resume.")
            else:
                messages.success(
                    request,
                    f"{patient}'s processing is restricted: no reminders, no marketing use of photos.",
                )
            return redirect("treatments:patient_rights", pk=pk)
    return _page(request, patient, form=form, status=400)


@permission_required("treatments.manage_data_rights", raise_exception=True)
@require_POST
def patient_erasure(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Record an erasure request: what no duty requires goes now, the record when retention ends."""
    patient = _patient(request, pk)
    form = ErasureRequestForm(request.POST)
    if form.is_valid():
        try:
            erasure = erasure_request_record(
                actor=request.user,
                patient=patient,
                received_on=form.cleaned_data["received_on"],
                channel=form.cleaned_data["channel"],
                erase_retired_photos=form.cleaned_data["erase_retired_photos"],
            )
        except ValidationError as exc:
            add_errors(form, exc)
        else:
            if erasure.status == ErasureRequest.Status.COMPLETED:
                messages.success(
                    request, "The patient's data is erased: there was no clinical record to keep."
                )
            elif erasure.held_reason:
                messages.warning(request, erasure.held_reason)
            else:
                messages.success(
                    request,
                    "Contact details, messages and marketing are erased. The clinical record is kept until "
                    f"{erasure.retain_until:%-d %B %Y} and then erased automatically.",
                )
            return redirect("treatments:patient_rights", pk=pk)
    return _page(request, patient, erasure_form=form, status=400)

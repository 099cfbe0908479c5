"""A patient's data rights, for managers: the subject-access export and restriction."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from clinic.audit import AuditAction, audit_record
from clinic.files import private_stream_response
from clinic.scoping import AuthenticatedHttpRequest, get_for_user_or_404
from treatments.forms import DataRightsReasonForm
from treatments.models import Patient
from treatments.rights.export import subject_access_build, subject_access_zip
from treatments.rights.restriction import patient_restrict, patient_restriction_lift
from treatments.views.common import add_errors


def _patient(request: AuthenticatedHttpRequest, pk: int) -> Patient:
    return get_for_user_or_404(
        Patient.objects.select_related("location", "restricted_by"), request.user, pk=pk
    )


def _page(
    request: AuthenticatedHttpRequest, patient: Patient, form: DataRightsReasonForm | None = None, status=200
):
    return render(
        request,
        "treatments/rights/patient_rights.html",
        {"patient": patient, "form": form or DataRightsReasonForm()},
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
    return _page(request, patient, form, status=400)

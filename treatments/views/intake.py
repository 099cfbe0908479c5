"""The page an intake link opens: the patient answers the screening questions and reads and
signs the consent on their phone before the visit, without login.

Like the reminder page (``respond.py``): rate limited per client address, the same refusal
page for a tampered, expired or closed link, and only POST writes. It shows nothing clinical
but the consent text: the patient's first name, the time and place, and the empty forms (what
was sent before is not shown back: whoever holds the link sees no answers).
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from clinic.forms import parse_id
from treatments import links
from treatments.clinical_forms import IntakeConsentForm, ScreeningForm
from treatments.models import ConsentTemplate, IntakeSubmission, Session
from treatments.services.intake import intake_open, intake_submit
from treatments.views.respond import open_link, refuse

TEMPLATE = "treatments/intake/intake.html"


def _add_errors(forms: list, exc: ValidationError) -> None:
    """A service error on the field of whichever form has it, else on the first form."""
    if hasattr(exc, "error_dict"):
        for name, errors in exc.error_dict.items():
            owner = next((f for f in forms if name in f.fields), None)
            (owner or forms[0]).add_error(name if owner else None, errors)
    else:
        forms[0].add_error(None, exc)


@login_not_required
@never_cache
@require_http_methods(["GET", "POST"])
def session_intake(request: HttpRequest, token: str) -> HttpResponse:
    session_id = open_link(
        request, page="session-intake", token=token, read=links.intake_session_id_from_token
    )
    if isinstance(session_id, HttpResponse):
        return session_id
    session = Session.objects.select_related("patient", "location").filter(pk=session_id).first()
    if session is None:
        return refuse(request, "invalid")
    if not intake_open(session):
        # Started, cancelled or over: the answers are taken at the clinic now.
        return refuse(request, "expired")
    template = ConsentTemplate.current(session.treatment_type)
    if request.method == "POST":
        # The version the patient read (a newer one published meanwhile is refused by the service).
        shown = parse_id(request.POST.get("template"))
        if template is not None and shown is not None and shown != template.pk:
            template = ConsentTemplate.objects.filter(pk=shown, treatment_type=session.treatment_type).first()
    data = request.POST if request.method == "POST" else None
    screening_form = ScreeningForm(data)
    consent_form = IntakeConsentForm(data, initial={"scope_treatment": True}) if template else None
    forms = [f for f in (consent_form, screening_form) if f is not None]
    valid = [f.is_valid() for f in forms]  # every form, so each shows its own errors
    if request.method == "POST" and all(valid):
        answers = {k: v for k, v in screening_form.cleaned_data.items() if k != "details"}
        consent = consent_form.cleaned_data if consent_form else {}
        try:
            intake_submit(
                session=session,
                answers=answers,
                details=screening_form.cleaned_data["details"],
                template=template,
                typed_name=consent.get("typed_name", ""),
                signature_data_url=consent.get("signature", ""),
                scope_treatment=consent.get("scope_treatment", True),
                scope_photography=consent.get("scope_photography", False),
                scope_marketing=consent.get("scope_marketing", False),
            )
        except ValidationError as exc:
            if getattr(exc, "code", None) == "closed":
                return refuse(request, "expired")
            _add_errors(forms, exc)
        else:
            return redirect(request.path + "?sent=1")
    last = IntakeSubmission.objects.filter(session=session).values_list("submitted_at", flat=True).first()
    context = {
        "first_name": session.patient.first_name,
        "starts_at": session.starts_at,
        "location": session.location,
        "template": template,
        "screening_form": screening_form,
        "consent_form": consent_form,
        "last_submitted_at": last,
        "just_sent": request.GET.get("sent") == "1" and last is not None,
    }
    errors = request.method == "POST"  # reached here on POST only when something was refused
    return render(request, TEMPLATE, context, status=400 if errors else 200)

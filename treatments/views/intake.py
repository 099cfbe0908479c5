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
from treatments.services.clinical import CONSENT_OUTDATED
from treatments.services.intake import intake_open, intake_submit
from treatments.views.respond import open_link, refuse

TEMPLATE = "treatments/intake/intake.html"

# The staff's wording ("the patient must read and sign that one") is for the clinic's page.
CONSENT_UPDATED_MESSAGE = "The consent text has been updated. Please read it and sign again."


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
    # The version to sign is the server's: the current one for the session's treatment type.
    template = ConsentTemplate.current(session.treatment_type)
    data = request.POST if request.method == "POST" else None
    screening_form = ScreeningForm(data)
    consent_form = IntakeConsentForm(data, initial={"scope_treatment": True}) if template else None
    # The page showed another version than the current one (a newer one was published while the
    # patient read, or the field was tampered with): never "no consent needed", but read again.
    outdated = data is not None and template is not None and parse_id(data.get("template")) != template.pk
    forms = [f for f in (consent_form, screening_form) if f is not None]
    valid = [f.is_valid() for f in forms]  # every form, so all errors are shown at once
    if data is not None and not outdated and all(valid):
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
            if getattr(exc, "code", None) == CONSENT_OUTDATED:  # published since this request began
                outdated, template = True, ConsentTemplate.current(session.treatment_type)
            else:
                _add_errors(forms, exc)
        else:
            return redirect(request.path + "?sent=1")
    if outdated and template is not None:
        # The current text, to read and sign afresh; the answers typed so far are kept.
        consent_form = IntakeConsentForm(initial=_kept_choices(consent_form))
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
    context["error_summary"] = _error_summary(
        [f for f in (screening_form, consent_form) if f is not None], outdated=outdated
    )
    errors = request.method == "POST"  # reached here on POST only when something was refused
    return render(request, TEMPLATE, context, status=400 if errors else 200)


def _kept_choices(form: IntakeConsentForm | None) -> dict:
    """What the patient chose on the consent they must sign again (not the reading or the
    signature: those are for the new text)."""
    kept = getattr(form, "cleaned_data", {}) if form is not None else {}
    return {
        "scope_treatment": kept.get("scope_treatment", True),
        "scope_photography": kept.get("scope_photography", False),
        "scope_marketing": kept.get("scope_marketing", False),
        "typed_name": kept.get("typed_name", ""),
    }


def _error_summary(forms: list, *, outdated: bool) -> list[dict]:
    """Every error of the page, each with the id of what it is about (the summary at the top
    links to them). The signature's target is its pad: its hidden input cannot take focus."""
    items = []
    if outdated:
        items.append({"href": "consent", "message": CONSENT_UPDATED_MESSAGE})
    for form in forms:
        if not form.is_bound:
            continue
        for name, errors in form.errors.items():
            if name == "__all__":
                items.extend({"href": "", "message": e} for e in errors)
                continue
            field = form[name]
            href = f"{field.id_for_label}-pad" if name == "signature" else field.id_for_label
            items.extend({"href": href, "label": field.label, "message": e} for e in errors)
    return items

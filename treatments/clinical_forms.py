"""Forms for consent and screening (practitioners and managers; crispy-bootstrap5)."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import MaxLengthValidator

from treatments.models import (
    SCREENING_DETAILS_MAX_LENGTH,
    SCREENING_QUESTIONS,
    ConsentTemplate,
    Scope,
    Screening,
    TreatmentType,
)
from treatments.services.clinical import decode_signature, screening_details_problem


class ConsentTemplateForm(forms.Form):
    treatment_type = forms.ChoiceField(choices=TreatmentType.choices)
    title = forms.CharField(max_length=150)
    body = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 12}),
        help_text="The standard disclosure that the evidence is still emerging is added to every version.",
    )


class ConsentSignForm(forms.Form):
    typed_name = forms.CharField(label="Patient's full name, typed by the patient", max_length=160)
    has_read = forms.BooleanField(
        label="The patient has read the consent text, including that the evidence is still emerging",
        required=True,
    )
    scope_treatment = forms.BooleanField(label=Scope.TREATMENT.label, required=False, initial=True)
    scope_photography = forms.BooleanField(label=Scope.PHOTOGRAPHY.label, required=False)
    scope_marketing = forms.BooleanField(
        label="Use of photos for marketing (optional, opt-in)", required=False
    )
    signature = forms.CharField(widget=forms.HiddenInput, required=False)


class IntakeConsentForm(ConsentSignForm):
    """The same consent form, worded for the patient signing on their own phone (intake link).

    The signature is checked here too (``consent_sign`` checks it again), so a missing one is
    said together with the screening's errors rather than on the next round."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["typed_name"].label = "Your full name"
        self.fields[
            "has_read"
        ].label = "I have read the consent text, including that the evidence is still emerging"
        self.fields["scope_marketing"].label = "Use of my photos for marketing (optional)"

    def clean_signature(self) -> str:
        value = self.cleaned_data.get("signature") or ""
        if not value.strip():
            raise ValidationError("You have not signed yet: draw the signature in the box with your finger.")
        try:
            decode_signature(value)
        except ValidationError as exc:
            said = exc.message_dict.get("signature") if hasattr(exc, "error_dict") else None
            raise ValidationError(said or exc.messages) from None
        return value


class WithdrawForm(forms.Form):
    scope = forms.ChoiceField(
        label="Withdraw",
        choices=[("all", "Everything in this consent"), *Scope.choices],
    )
    reason = forms.CharField(label="Reason given", max_length=300)

    def scopes(self) -> list[str] | None:
        value = self.cleaned_data["scope"]
        return None if value == "all" else [value]


class ScreeningForm(forms.ModelForm):
    class Meta:
        model = Screening
        fields = [f for f, _q, _c in SCREENING_QUESTIONS] + ["details"]
        widgets = {"details": forms.Textarea(attrs={"rows": 3})}

    def clean(self) -> dict:
        # The service's rule for the details, said here with every other error of the page.
        cleaned = super().clean()
        if "details" in cleaned and not self.has_error("details"):
            answers = {f: bool(cleaned.get(f)) for f, _q, _c in SCREENING_QUESTIONS}
            problem = screening_details_problem(answers, cleaned["details"])
            if problem:
                self.add_error("details", problem)
        return cleaned

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # The model's column is a TextField (no limit): free text is bounded here, with the
        # service refusing the same, so a pasted novel is not stored and copied into the audit.
        details = self.fields["details"]
        details.max_length = SCREENING_DETAILS_MAX_LENGTH
        details.widget.attrs["maxlength"] = str(SCREENING_DETAILS_MAX_LENGTH)
        details.validators.append(
            MaxLengthValidator(
                SCREENING_DETAILS_MAX_LENGTH,
                message=(
                    f"Keep the details to {SCREENING_DETAILS_MAX_LENGTH} characters or fewer "
                    "(this has %(show_value)d)."
                ),
            )
        )


class OverrideForm(forms.Form):
    reason = forms.CharField(
        label="Clinical reason for treating despite the contraindication",
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=2000,
    )


def template_choices() -> list[ConsentTemplate]:
    """The current version of every treatment type's template."""
    latest = {}
    for t in ConsentTemplate.objects.order_by("treatment_type", "-version"):
        latest.setdefault(t.treatment_type, t)
    return list(latest.values())

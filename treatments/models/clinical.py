"""Consent (versioned templates, signed consents, withdrawals) and screening questionnaires.

Everything here is clinical data: shown only to holders of ``treatments.view_clinical_record``
at the patient's location, never to the front desk.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from clinic.scoping import LocationScopedQuerySet
from treatments.models.common import TreatmentType
from treatments.models.patients import Patient
from treatments.models.sessions import Session

# Every consent template carries this disclosure (DOMAIN.md: patients must be told).
EVIDENCE_DISCLOSURE = (
    "The evidence for exosome treatments is still emerging. There are no large phase 3 "
    "clinical trials yet, results vary between people, and long-term effects are not fully known."
)


class Scope(models.TextChoices):
    """What a signed consent covers; each scope can be withdrawn on its own."""

    TREATMENT = "treatment", "The treatment"
    PHOTOGRAPHY = "photography", "Clinical photography"
    MARKETING = "marketing", "Use of photos for marketing"


class ConsentTemplate(models.Model):
    """One published version of the consent text for a treatment type. Never edited.

    Publishing a change creates a new version; a signed consent points at the exact
    version the patient read, so its text can never change under it.
    """

    treatment_type = models.CharField(max_length=20, choices=TreatmentType.choices)
    version = models.PositiveSmallIntegerField()
    title = models.CharField(max_length=150)
    body = models.TextField(help_text="What the treatment is, its risks, alternatives and aftercare.")
    evidence_disclosure = models.TextField(default=EVIDENCE_DISCLOSURE, editable=False)
    published_at = models.DateTimeField(default=timezone.now)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["treatment_type", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["treatment_type", "version"], name="consent_template_version"),
            models.CheckConstraint(condition=~Q(evidence_disclosure=""), name="consent_template_disclosure"),
        ]

    def __str__(self) -> str:
        return f"{self.title} (v{self.version})"

    def save(self, *args, **kwargs) -> None:
        # Versions are immutable: a published text is what patients signed.
        if not self._state.adding:
            raise ValueError("A published consent template cannot be changed; publish a new version.")
        super().save(*args, **kwargs)

    @classmethod
    def current(cls, treatment_type: str) -> ConsentTemplate | None:
        return cls.objects.filter(treatment_type=treatment_type).order_by("-version").first()


class PatientConsentQuerySet(LocationScopedQuerySet):
    location_lookup = "patient__location"


class PatientConsent(models.Model):
    """A patient's signed consent: the template version read, typed name, drawn signature
    (a private PNG), the practitioner, and the scopes agreed to. Withdrawals are separate rows.
    """

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="consents")
    template = models.ForeignKey(ConsentTemplate, on_delete=models.PROTECT, related_name="consents")
    session = models.ForeignKey(
        Session, null=True, blank=True, on_delete=models.SET_NULL, related_name="consents"
    )
    # Empty only for a consent the patient signed remotely, from an intake link (no one witnessed it).
    practitioner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    submitted_by_patient = models.BooleanField(
        "signed by the patient remotely (intake link)", default=False, editable=False
    )
    signed_at = models.DateTimeField(default=timezone.now)
    typed_name = models.CharField("patient's name as typed", max_length=160)
    signature_name = models.CharField(max_length=255, editable=False)
    signature_sha256 = models.CharField(max_length=64, editable=False)
    scope_treatment = models.BooleanField("consents to the treatment", default=True)
    scope_photography = models.BooleanField("consents to clinical photography", default=False)
    scope_marketing = models.BooleanField("agrees to photos being used for marketing", default=False)

    objects = PatientConsentQuerySet.as_manager()

    class Meta:
        ordering = ["-signed_at", "-pk"]
        indexes = [models.Index(fields=["patient", "-signed_at"], name="consent_patient_signed_idx")]

    def __str__(self) -> str:
        return (
            f"Consent of {self.patient} to {self.template} on {timezone.localtime(self.signed_at):%d %b %Y}"
        )

    def granted(self, scope: str) -> bool:
        return bool(getattr(self, f"scope_{scope}"))

    def withdrawal_for(self, scope: str):
        """The withdrawal of ``scope`` (from prefetched rows when present)."""
        return next((w for w in self.withdrawals.all() if w.scope == scope), None)

    def scope_states(self) -> list[dict]:
        """Each scope with granted / withdrawn, for templates (uses prefetched withdrawals)."""
        states = []
        for scope in Scope:
            withdrawal = self.withdrawal_for(scope.value)
            states.append(
                {
                    "scope": scope.value,
                    "label": scope.label,
                    "granted": self.granted(scope.value),
                    "withdrawal": withdrawal,
                    "active": self.granted(scope.value) and withdrawal is None,
                }
            )
        return states


class ConsentWithdrawal(models.Model):
    """A patient withdrew one scope of a consent; it takes effect at ``withdrawn_at``."""

    consent = models.ForeignKey(PatientConsent, on_delete=models.PROTECT, related_name="withdrawals")
    scope = models.CharField(max_length=20, choices=Scope.choices)
    withdrawn_at = models.DateTimeField(default=timezone.now)
    reason = models.CharField(max_length=300)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["withdrawn_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["consent", "scope"], name="one_withdrawal_per_scope"),
            models.CheckConstraint(condition=~Q(reason=""), name="withdrawal_has_reason"),
        ]

    def __str__(self) -> str:
        return f"{self.get_scope_display()} withdrawn {timezone.localtime(self.withdrawn_at):%d %b %Y}"


# --- Screening ---------------------------------------------------------------------------

# (field, question, contraindicates): answers that block a treatment unless overridden.
SCREENING_QUESTIONS: tuple[tuple[str, str, bool], ...] = (
    ("pregnant_or_breastfeeding", "Pregnant or breastfeeding", True),
    ("cancer_active", "Cancer, active now", True),
    ("cancer_past", "Cancer in the past", True),
    ("anticoagulants_or_platelet_disorder", "Takes anticoagulants or has a platelet disorder", True),
    ("skin_infection_at_site", "Active skin infection at the treatment site", True),
    ("immunosuppressed", "Immunosuppressed (condition or medication)", True),
    ("allergy_to_components", "Allergy to a product component", True),
    ("recent_procedures", "Recent procedures (last 4 weeks) at or near the site", False),
)
# The free-text details (a TextField): enough for every "yes", not a document.
SCREENING_DETAILS_MAX_LENGTH = 2000


class ScreeningQuerySet(LocationScopedQuerySet):
    location_lookup = "patient__location"


class Screening(models.Model):
    """The screening questionnaire as answered (before the first treatment) or confirmed at a
    visit (``session`` set, ``confirms`` pointing at the answers confirmed unchanged).

    Contraindicating answers block a treatment unless a practitioner overrides them with a
    written reason (audited).
    """

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="screenings")
    session = models.ForeignKey(
        Session, null=True, blank=True, on_delete=models.SET_NULL, related_name="screenings"
    )
    confirms = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        help_text="The earlier answers the patient confirmed unchanged at this visit.",
    )  # fmt: skip
    answered_at = models.DateTimeField(default=timezone.now)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    pregnant_or_breastfeeding = models.BooleanField("pregnant or breastfeeding", default=False)
    cancer_active = models.BooleanField("cancer, active now", default=False)
    cancer_past = models.BooleanField("cancer in the past", default=False)
    anticoagulants_or_platelet_disorder = models.BooleanField(
        "takes anticoagulants or has a platelet disorder", default=False
    )
    skin_infection_at_site = models.BooleanField("active skin infection at the treatment site", default=False)
    immunosuppressed = models.BooleanField("immunosuppressed (condition or medication)", default=False)
    allergy_to_components = models.BooleanField("allergy to a product component", default=False)
    recent_procedures = models.BooleanField(
        "recent procedures (last 4 weeks) at or near the site", default=False
    )
    # Answered by the patient on their phone before the visit: never the visit's screening
    # itself (a practitioner confirms it in person, which copies it onto the session).
    submitted_by_patient = models.BooleanField(
        "answered by the patient remotely (intake link)", default=False, editable=False
    )
    details = models.TextField(blank=True, help_text="Details of every “yes” (which drug, which allergy…).")
    override_reason = models.TextField(blank=True)
    overridden_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    overridden_at = models.DateTimeField(null=True, blank=True)

    objects = ScreeningQuerySet.as_manager()

    class Meta:
        ordering = ["-answered_at", "-pk"]
        indexes = [
            models.Index(fields=["patient", "-answered_at"], name="screening_patient_idx"),
            models.Index(fields=["session", "-answered_at"], name="screening_session_idx"),
        ]
        permissions = [("override_screening", "Can treat despite a contraindication, with a reason")]
        constraints = [
            models.CheckConstraint(
                condition=Q(overridden_at__isnull=True) | ~Q(override_reason=""),
                name="screening_override_has_reason",
            )
        ]

    def __str__(self) -> str:
        return f"Screening of {self.patient} {timezone.localtime(self.answered_at):%d %b %Y}"

    @property
    def answers(self) -> list[dict]:
        return [
            {"field": f, "question": q, "yes": getattr(self, f), "contraindicates": c}
            for f, q, c in SCREENING_QUESTIONS
        ]

    @property
    def contraindications(self) -> list[str]:
        return [q for f, q, c in SCREENING_QUESTIONS if c and getattr(self, f)]

    @property
    def cautions(self) -> list[str]:
        return [q for f, q, c in SCREENING_QUESTIONS if not c and getattr(self, f)]

    @property
    def is_overridden(self) -> bool:
        return self.overridden_at is not None

    @property
    def blocks_treatment(self) -> bool:
        return bool(self.contraindications) and not self.is_overridden


class IntakeSubmissionQuerySet(LocationScopedQuerySet):
    location_lookup = "session__location"


class IntakeSubmission(models.Model):
    """What a patient sent from the intake link of a booked session, before the visit: the
    screening answers and (when a template is published) the signed consent, and when.

    The screening still needs the practitioner's confirmation at the visit; the consent counts
    for the session while its template version is current (``treatments.consent``).
    """

    session = models.ForeignKey(Session, on_delete=models.CASCADE, related_name="intake_submissions")
    submitted_at = models.DateTimeField(default=timezone.now)
    screening = models.OneToOneField(Screening, on_delete=models.PROTECT, related_name="intake_submission")
    consent = models.OneToOneField(
        PatientConsent, null=True, blank=True, on_delete=models.PROTECT, related_name="intake_submission"
    )

    objects = IntakeSubmissionQuerySet.as_manager()

    class Meta:
        ordering = ["-submitted_at", "-pk"]
        indexes = [models.Index(fields=["session", "-submitted_at"], name="intake_session_idx")]

    def __str__(self) -> str:
        return f"Intake for {self.session} sent {timezone.localtime(self.submitted_at):%d %b %Y %H:%M}"

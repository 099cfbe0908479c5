"""Consent questions asked across the treatments app (treatment records, photos).

Scopes are separate: the treatment itself, clinical photography, and use of photos for
marketing (opt-in). A consent counts while it is signed and not withdrawn.

- ``has_consent(patient, scope, *, at=None)``: whether the patient holds a valid consent for
  ``scope`` at ``at`` (default now). For the treatment scope, any signed consent that
  agreed to treatment and whose treatment scope is not withdrawn counts. Photography and
  marketing are the patient's standing choices: the most recent consent signed by ``at``
  decides them (a later consent without the marketing tick ends an earlier opt-in), and a
  withdrawal of that scope ends it at once.
- ``treatment_consent_for(patient, treatment_type, *, at=None)``: the valid consent for a
  given treatment type (what the treatment record gate uses), or None. A consent the patient
  signed remotely (intake link) counts only while its template version is the current one:
  no one went through a newer text with them.
"""

from __future__ import annotations

import datetime as dt

from django.db.models import Exists, Max, OuterRef, Subquery
from django.utils import timezone

from treatments.models import ConsentTemplate, ConsentWithdrawal, PatientConsent, Scope


def _valid(patient, scope: str, at: dt.datetime):
    withdrawn = ConsentWithdrawal.objects.filter(consent=OuterRef("pk"), scope=scope, withdrawn_at__lte=at)
    return PatientConsent.objects.filter(patient=patient, signed_at__lte=at).exclude(Exists(withdrawn))


def has_consent(patient, scope: str, *, at: dt.datetime | None = None) -> bool:
    """Whether the patient holds a valid (signed, not withdrawn) consent for ``scope``."""
    if scope not in Scope.values:
        raise ValueError(f"Unknown consent scope {scope!r}.")
    at = at or timezone.now()
    if scope == Scope.TREATMENT:
        return _valid(patient, scope, at).filter(scope_treatment=True).exists()

    latest = PatientConsent.objects.filter(patient=patient, signed_at__lte=at).order_by("-signed_at", "-pk")
    return (
        _valid(patient, scope, at).filter(pk__in=latest.values("pk")[:1], **{f"scope_{scope}": True}).exists()
    )


def treatment_consent_for(patient, treatment_type: str, *, at: dt.datetime | None = None):
    """The newest valid treatment consent for this treatment type, or None."""
    at = at or timezone.now()
    current_version = (
        ConsentTemplate.objects.filter(treatment_type=treatment_type)
        .values("treatment_type")
        .annotate(v=Max("version"))
        .values("v")
    )
    return (
        _valid(patient, Scope.TREATMENT, at)
        .filter(scope_treatment=True, template__treatment_type=treatment_type)
        .exclude(submitted_by_patient=True, template__version__lt=Subquery(current_version))
        .select_related("template")
        .order_by("-signed_at", "-pk")
        .first()
    )

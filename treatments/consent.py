"""Consent questions asked across the treatments app (treatment records, photos).

Scopes are separate: the treatment itself, clinical photography, and use of photos for
marketing (opt-in). A consent counts while it is signed and not withdrawn.

- ``has_consent(patient, scope, *, at=None)``: whether the patient holds a valid consent for
  ``scope`` at ``at`` (default now). For the treatment scope, any signed consent that
  agreed to treatment and whose treatment scope is not withdrawn counts. Photography and
  marketing are the patient's standing choices: the most recent consent signed by ``at``
  decides them (a later consent without the marketing tick ends an earlier opt-in), and a
  withdrawal of that scope ends it at once.
- ``treatment_consent_for(patient, treatment_type, *, session=None, at=None)``: the valid
  consent for a given treatment type at ``session`` (what the treatment record gate uses), or
  None. A consent the patient signed remotely (intake link) is that session's consent only:
  it counts for the session whose link it was signed from (not for a later one after that
  session was cancelled, nor with no session given), and only while its template version is
  the current one: no one went through a newer text with them. A consent signed at the
  clinic, with a practitioner, counts for every session of its treatment type.
"""

from __future__ import annotations

import datetime as dt

from django.db.models import Exists, Max, OuterRef, Q, Subquery
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


def treatment_consent_for(patient, treatment_type: str, *, session=None, at: dt.datetime | None = None):
    """The newest valid treatment consent for this treatment type at ``session``, or None."""
    at = at or timezone.now()
    # Signed at the clinic: any session. Signed from an intake link: the session it came from.
    for_session = Q(submitted_by_patient=False)
    if session is not None:
        for_session |= Q(session_id=session.pk)
    current_version = (
        ConsentTemplate.objects.filter(treatment_type=treatment_type)
        .values("treatment_type")
        .annotate(v=Max("version"))
        .values("v")
    )
    return (
        _valid(patient, Scope.TREATMENT, at)
        .filter(for_session, scope_treatment=True, template__treatment_type=treatment_type)
        .exclude(submitted_by_patient=True, template__version__lt=Subquery(current_version))
        .select_related("template")
        .order_by("-signed_at", "-pk")
        .first()
    )

"""Consent questions asked across the treatments app (treatment records, photos).

Scopes are separate: the treatment itself, clinical photography, and use of photos for
marketing (opt-in). A consent counts while it is signed and not withdrawn.
"""

from __future__ import annotations

import datetime as dt

from django.db import models


class Scope(models.TextChoices):
    TREATMENT = "treatment", "The treatment"
    PHOTOGRAPHY = "photography", "Clinical photography"
    MARKETING = "marketing", "Use of photos for marketing"


def has_consent(patient, scope: str, *, at: dt.datetime | None = None) -> bool:
    """Whether the patient holds a valid (signed, not withdrawn) consent for ``scope``."""
    return False

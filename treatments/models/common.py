"""Choices and text helpers shared by the treatments models."""

from __future__ import annotations

import re

from django.db import models


def phone_digits(phone: str) -> str:
    """Digits of a phone number in national form (+44 7700 → 07700), for search."""
    text = (phone or "").strip()
    digits = re.sub(r"\D", "", text)
    if text.startswith("+44") or digits.startswith("0044"):
        digits = "0" + digits[4 if digits.startswith("0044") else 2 :]
    elif digits.startswith("44") and len(digits) > 10:
        digits = "0" + digits[2:]
    return digits


def search_key(text: str) -> str:
    return " ".join((text or "").lower().split())


class TreatmentType(models.TextChoices):
    POST_PROCEDURE = "post_procedure", "Post-procedure topical"
    SKIN_QUALITY = "skin_quality", "Skin-quality injection"
    HAIR = "hair", "Hair / scalp"
    SCAR = "scar", "Scar"
    OTHER = "other", "Other"


class ReminderChannel(models.TextChoices):
    EMAIL = "email", "Email"
    SMS = "sms", "SMS"

"""Choices and text helpers shared by the treatments models."""

from __future__ import annotations

import re

import phonenumbers
from django.db import models

from clinic.phones import phone_region


def phone_digits(phone: str) -> str:
    """Digits of a phone number as dialled at home, for prefix search: a number of the clinic's
    region nationally (+44 20 7946 → 0207946), another country's with its code (+33 1 → 331).

    Stored numbers are E.164; queries are whatever the desk types, often a partial number, so
    this reads digits rather than parsing a whole number.
    """
    text = (phone or "").strip()
    digits = re.sub(r"\D", "", text)
    region = phone_region()
    code = str(phonenumbers.country_code_for_region(region))
    prefix = phonenumbers.ndd_prefix_for_region(region, True) or ""
    if text.startswith("+") or digits.startswith("00"):
        international = digits if text.startswith("+") else digits[2:]
        if international.startswith(code):
            return prefix + international[len(code) :]
        return international
    if digits.startswith(code) and len(digits) > 10:  # typed without the "+"
        return prefix + digits[len(code) :]
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

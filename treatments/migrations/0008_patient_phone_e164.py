"""Patients' phone numbers in E.164, as clinic.phones now stores every number.

A value that cannot be read as a valid number of settings.PHONE_REGION (or, with "+", of its
country) is kept exactly as typed: a migration never loses a number. The patient's page shows
such a value with "check this number", and SMS refuses it. ``phone_digits`` (the search key)
is rewritten with the number, as ``treatments.models.common.phone_digits`` reads E.164.

The rule is written out here rather than imported, so later changes to clinic/phones.py do not
change what this migration did.
"""

import re

import phonenumbers
from django.conf import settings
from django.db import migrations

TYPED = re.compile(r"\+?[\d\s().\-/]+")


def to_e164(raw, region):
    """The value in E.164, or None when it is blank or not a valid number (kept as it is)."""
    text = (raw or "").strip()
    if not text or not TYPED.fullmatch(text):
        return None
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def search_digits(e164, region):
    """Digits as dialled at home: the region's numbers with its national prefix (0207946…),
    others with their country code (33123…)."""
    code = str(phonenumbers.country_code_for_region(region))
    digits = e164[1:]
    if digits.startswith(code):
        return (phonenumbers.ndd_prefix_for_region(region, True) or "") + digits[len(code) :]
    return digits


def patient_phones_to_e164(apps, schema_editor):
    region = getattr(settings, "PHONE_REGION", "GB")
    Patient = apps.get_model("treatments", "Patient")
    # Read first, then write: no update while a cursor over the same table is open (SQLite).
    stored = list(Patient.objects.exclude(phone="").values_list("pk", "phone"))
    changed = []
    for pk, phone in stored:
        e164 = to_e164(phone, region)
        if e164 is not None and e164 != phone:
            changed.append(Patient(pk=pk, phone=e164, phone_digits=search_digits(e164, region)))
    Patient.objects.bulk_update(changed, ["phone", "phone_digits"], batch_size=2000)


class Migration(migrations.Migration):
    dependencies = [
        ("treatments", "0007_erasure_request"),
    ]

    operations = [
        # Backwards: nothing to undo, an E.164 number is still a number the old code accepted.
        migrations.RunPython(patient_phones_to_e164, migrations.RunPython.noop),
    ]

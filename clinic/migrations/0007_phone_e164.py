"""Locations' and staff phone numbers in E.164, as clinic.phones now stores every number.

A value that cannot be read as a valid number of settings.PHONE_REGION (or, with "+", of its
country) is kept exactly as typed: a migration never loses a number. The pages show such a
value with "check this number", and SMS refuses it.

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


def phones_to_e164(apps, schema_editor):
    region = getattr(settings, "PHONE_REGION", "GB")
    for model_name in ("Location", "StaffProfile"):
        model = apps.get_model("clinic", model_name)
        stored = list(model.objects.exclude(phone="").values_list("pk", "phone"))
        for pk, phone in stored:
            e164 = to_e164(phone, region)
            if e164 is not None and e164 != phone:
                model.objects.filter(pk=pk).update(phone=e164)


class Migration(migrations.Migration):
    dependencies = [
        ("clinic", "0006_audit_redaction"),
    ]

    operations = [
        # Backwards: nothing to undo, an E.164 number is still a number the old code accepted.
        migrations.RunPython(phones_to_e164, migrations.RunPython.noop),
    ]

"""Phone numbers: read as typed, stored in E.164 (``+442079460018``), shown nationally.

Every phone input (patients, locations, staff) goes through ``PhoneField`` / ``phone_normalise``:
a number typed nationally is read as a number of ``settings.PHONE_REGION``, one typed with
``+`` (or ``00``) and a country code as that country's. Letters, numbers of the wrong length
and numbers no operator gives out (``phonenumbers.is_valid_number``, Google's libphonenumber
metadata) are refused with an example the desk can follow.

Values stored before validation existed that could not be read were kept as typed (data
migrations never drop a number): ``phone_is_valid`` tells them apart, the pages show them
with a "check this number" badge (``templates/includes/phone.html``) and SMS refuses them.
"""

from __future__ import annotations

import functools
import re

import phonenumbers
from django import forms
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, ValidationError
from phonenumbers import NumberParseException, PhoneNumber, PhoneNumberFormat, ValidationResult

DEFAULT_REGION = "GB"
# E.164: "+", a country code and at most 15 digits in all.
E164 = re.compile(r"\+[1-9]\d{6,14}")
# What a person types around the digits: spaces, brackets, dashes, dots, slashes, a leading "+".
# Anything else (letters, "ext", "#") is refused: phonenumbers would read "0800 FLOWERS" as
# digits and drop an extension, and we store neither.
TYPED = re.compile(r"\+?[\d\s().\-/]+")
LETTERS = re.compile(r"[^\W\d_]")
# Examples shown in the refusal message, per region: Ofcom's range for drama (never a real
# line). Other regions get libphonenumber's example fixed line.
EXAMPLES = {"GB": "+442079460000"}

# Ofcom's ranges for drama (TV, films, demos), 1000 numbers each, that also pass
# is_valid_number. 07700 900xxx (the drama mobile range) and 01632 960xxx do NOT: libphonenumber
# marks them unallocated, so demo data and test factories use these landlines.
FICTIONAL_GB = (
    "+442079460",  # 020 7946 0xxx, London
    "+441134960",  # 0113 496 0xxx, Leeds
    "+441614960",  # 0161 496 0xxx, Manchester
    "+441214960",  # 0121 496 0xxx, Birmingham
    "+441314960",  # 0131 496 0xxx, Edinburgh
    "+441414960",  # 0141 496 0xxx, Glasgow
    "+441514960",  # 0151 496 0xxx, Liverpool
    "+441174960",  # 0117 496 0xxx, Bristol
    "+441144960",  # 0114 496 0xxx, Sheffield
    "+441164960",  # 0116 496 0xxx, Leicester
    "+441184960",  # 0118 496 0xxx, Reading
    "+441914980",  # 0191 498 0xxx, Tyneside
    "+442920180",  # 029 2018 0xxx, Cardiff
)


def region_checked(value: str, *, name: str = "PHONE_REGION") -> str:
    """An ISO 3166 region code libphonenumber knows (``GB``, ``IE``…), upper-cased; else
    ``ImproperlyConfigured`` naming the setting (read by settings.py at start-up)."""
    region = (value or "").strip().upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise ImproperlyConfigured(
            f"{name}={value!r} is not a region phone numbers are known for; use a two-letter "
            "country code such as GB, IE or FR."
        )
    return region


def phone_region() -> str:
    """The region of numbers typed without a country code (read per call: tests change it)."""
    return getattr(settings, "PHONE_REGION", DEFAULT_REGION)


def phone_example(region: str | None = None) -> tuple[str, str]:
    """An example number of the region, (national, international), for messages and help."""
    region = region or phone_region()
    number: PhoneNumber | None
    if region in EXAMPLES:
        number = phonenumbers.parse(EXAMPLES[region])
    else:
        example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.FIXED_LINE)
        number = example or phonenumbers.example_number(region)
    if number is None:  # a region without metadata for examples (none known today)
        return "", ""
    return (
        phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL),
        phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL),
    )


def phone_help() -> str:
    national, international = phone_example()
    return f"For example {national}, or {international} from abroad." if national else ""


def invalid_message() -> str:
    national, international = phone_example()
    if not national:
        return "Enter a phone number with its country code, such as +44 20 7946 0000."
    return f"Enter a phone number such as {national} or {international}"


def _parse(raw: str) -> PhoneNumber | None:
    text = (raw or "").strip()
    if not TYPED.fullmatch(text):
        return None
    try:
        return phonenumbers.parse(text, phone_region())
    except NumberParseException:
        return None


def phone_normalise(raw: str) -> str:
    """The number typed, in E.164; ``""`` for a blank one. Raises ``ValidationError`` (code
    ``invalid_phone``) for letters, too few or too many digits, or a number not in use."""
    text = (raw or "").strip()
    if not text:
        return ""
    number = _parse(text)
    if number is None:
        lead = "A phone number has digits only, no letters or extension. " if LETTERS.search(text) else ""
        raise ValidationError(f"{lead}{invalid_message()}.", code="invalid_phone")
    if not phonenumbers.is_valid_number(number):
        reason = phonenumbers.is_possible_number_with_reason(number)
        if reason in (ValidationResult.TOO_SHORT, ValidationResult.IS_POSSIBLE_LOCAL_ONLY):
            lead = "That number has too few digits: include the area code. "
        elif reason == ValidationResult.INVALID_LENGTH:
            lead = "That number has the wrong number of digits. "
        elif reason == ValidationResult.TOO_LONG:
            lead = "That number has too many digits. "
        else:
            lead = "That is not a valid phone number. "
        raise ValidationError(f"{lead}{invalid_message()}.", code="invalid_phone")
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def phone_is_valid(value: str) -> bool:
    """Whether a stored value is a valid number in E.164 (what SMS may be sent to)."""
    if not value or not E164.fullmatch(value):
        return False
    return _e164_valid(value)


# Lists show a number per row and each parse costs ~30 µs (a third of a patient row's
# rendering): stored values repeat across pages and requests, and the answers depend on the
# value and the region alone, so a bounded cache per process keeps them.
@functools.lru_cache(maxsize=4096)
def _e164_valid(value: str) -> bool:
    try:
        return phonenumbers.is_valid_number(phonenumbers.parse(value))
    except NumberParseException:
        return False


def phone_invalid(value: str) -> bool:
    """A stored number that needs checking: present, but not valid E.164 (kept as typed)."""
    return bool((value or "").strip()) and not phone_is_valid(value)


def phone_national(value: str) -> str:
    """How to show a stored number: nationally for the clinic's region (``020 7946 0018``),
    internationally for others (``+33 1 23 45 67 89``); anything else as it is."""
    if not phone_is_valid(value):
        return value or ""
    return _shown(value, phone_region())


@functools.lru_cache(maxsize=4096)
def _shown(value: str, region: str) -> str:
    number = phonenumbers.parse(value)
    if phonenumbers.region_code_for_number(number) == region:
        return phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL)
    return phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)


def phone_fictional(i: int) -> str:
    """The ``i``-th of 13,000 fictional numbers (Ofcom drama ranges), E.164, for demo and tests."""
    prefix = FICTIONAL_GB[(i // 1000) % len(FICTIONAL_GB)]
    return f"{prefix}{i % 1000:03d}"


def validate_phone(value: str) -> None:
    """A validator for any phone input: refuses what ``phone_normalise`` refuses."""
    phone_normalise(value)


class PhoneField(forms.CharField):
    """The form field of every phone input: cleans to E.164 (or ``""``), refuses with the
    receptionist's message, and shows a stored number nationally when the form opens."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("max_length", 40)
        kwargs.setdefault("help_text", phone_help())
        kwargs.setdefault("widget", forms.TextInput(attrs={"autocomplete": "off", "inputmode": "tel"}))
        super().__init__(**kwargs)

    def prepare_value(self, value):
        return phone_national(value) if isinstance(value, str) else value

    def to_python(self, value) -> str:
        return phone_normalise(super().to_python(value) or "")

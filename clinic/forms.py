from __future__ import annotations

import datetime as dt
import re
from typing import TYPE_CHECKING, cast

from django import forms
from django.contrib.auth import get_user_model, password_validation
from django.core.exceptions import ValidationError

from clinic.models import Location
from clinic.roles import ROLES

if TYPE_CHECKING:
    from django.contrib.auth.models import User
else:
    User = get_user_model()

ROLE_CHOICES = [(key, role.group) for key, role in ROLES.items()]


class DateInput(forms.DateInput):
    input_type = "date"


# The window a clinic's working dates (schedules, reports, filters) fall in: outside it a
# date is a typo or a probe, and the arithmetic on it (a day before, a month after) overflows.
EARLIEST_DAY = dt.date(2000, 1, 1)
LATEST_DAY = dt.date(2099, 12, 31)


def plausible_day(day: dt.date) -> bool:
    return EARLIEST_DAY <= day <= LATEST_DAY


# Ids are 64-bit (BigAutoField): a number past this overflows the database driver in a lookup.
MAX_ID = 2**63 - 1
_ID = re.compile(r"[0-9]{1,19}")


def parse_id(value: object) -> int | None:
    """A query parameter that names a row by id: the id, or None for anything that cannot be one.

    Empty, words, signs, spaces, non-ASCII digits ("²"), zero and numbers past any id column are all
    None, so a view can treat them as "not given" or "not found" instead of passing them to the ORM
    (``int("9" * 10_000)`` raises, and an id past 64 bits overflows SQLite and PostgreSQL).
    """
    if not isinstance(value, str) or not _ID.fullmatch(value):
        return None
    number = int(value)
    return number if 0 < number <= MAX_ID else None


class WorkingDateField(forms.DateField):
    """A date in the clinic's working window, refused in words outside it."""

    widget = DateInput

    def validate(self, value) -> None:
        super().validate(value)
        if value and not plausible_day(value):
            raise ValidationError(f"Give a date between {EARLIEST_DAY:%-d %b %Y} and {LATEST_DAY:%-d %b %Y}.")


class AuditFilterForm(forms.Form):
    actor = forms.ModelChoiceField(queryset=User.objects.none(), required=False, label="User")
    action = forms.CharField(required=False, help_text="e.g. lot.receive, or lot. for all lot actions")
    object_type = forms.CharField(required=False, label="Object type", help_text="e.g. products.lot")
    object_id = forms.CharField(required=False, label="Object id")
    date_from = WorkingDateField(required=False, label="From")
    date_to = WorkingDateField(required=False, label="To")

    def __init__(self, *args, actors=None, **kwargs):
        super().__init__(*args, **kwargs)
        if actors is not None:
            cast(forms.ModelChoiceField, self.fields["actor"]).queryset = actors

    def clean(self):
        super().clean()
        data = self.cleaned_data
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            raise forms.ValidationError("“From” must be on or before “To”.")
        return data


class StaffForm(forms.Form):
    username = forms.CharField(max_length=150)
    first_name = forms.CharField(max_length=150)
    last_name = forms.CharField(max_length=150)
    email = forms.EmailField(required=False)
    job_title = forms.CharField(max_length=80, required=False)
    role = forms.ChoiceField(choices=ROLE_CHOICES)
    locations = forms.ModelMultipleChoiceField(
        queryset=Location.objects.none(), widget=forms.CheckboxSelectMultiple
    )
    is_active = forms.BooleanField(required=False, initial=True, label="Active (may sign in)")
    password = forms.CharField(
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        required=False,
        help_text="Temporary password for a new account; the user changes it after signing in.",
    )

    def __init__(self, *args, locations=None, editing: User | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.editing = editing
        # The sites the acting manager may assign (the view keeps the others as they are).
        self.location_choices = locations if locations is not None else Location.objects.none()
        cast(forms.ModelMultipleChoiceField, self.fields["locations"]).queryset = self.location_choices
        if editing is not None:
            self.fields["username"].disabled = True
            del self.fields["password"]
        else:
            self.fields["password"].required = True
            del self.fields["is_active"]

    def clean_username(self):
        username = self.cleaned_data["username"]
        if self.editing is None and User.objects.filter(username__iexact=username).exists():
            raise forms.ValidationError("That username is taken.")
        return username

    def clean(self):
        super().clean()
        data = self.cleaned_data
        password = data.get("password")
        if self.editing is None and password:
            candidate = User(
                username=data.get("username", ""),
                first_name=data.get("first_name", ""),
                last_name=data.get("last_name", ""),
                email=data.get("email", ""),
            )
            try:
                password_validation.validate_password(password, candidate)
            except forms.ValidationError as exc:
                self.add_error("password", exc)
        return data


def error_text(exc: ValidationError) -> str:
    """A service's refusal as one sentence for a message or a form's non-field error."""
    return " ".join(exc.messages)

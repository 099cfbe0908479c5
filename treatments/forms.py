"""Forms of the front desk, practitioners and managers (crispy-bootstrap5)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django import forms
from django.utils import timezone

from clinic.clock import wall_instants
from clinic.forms import MAX_ID
from clinic.phones import PhoneField
from treatments.models import (
    Area,
    ContactAttempt,
    ErasureRequest,
    Patient,
    ProtocolTemplate,
    Session,
    TreatmentType,
    WorkingHours,
)
from treatments.services.plans import TEMPLATE_FIELDS

DURATIONS = [(m, f"{m} minutes") for m in (15, 30, 45, 60, 75, 90, 120)]


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, attrs=None):
        super().__init__(attrs, format="%Y-%m-%d")


class TimeInput(forms.TimeInput):
    input_type = "time"

    def __init__(self, attrs=None):
        super().__init__({"step": 900, **(attrs or {})}, format="%H:%M")


class PatientForm(forms.ModelForm):
    # Cleans to E.164; a stored number opens in national format.
    phone = PhoneField(required=False, label="Phone")
    confirm_duplicate = forms.BooleanField(
        required=False,
        label="This is a different person with the same name and date of birth",
        widget=forms.HiddenInput,
    )

    class Meta:
        model = Patient
        fields = [
            "first_name",
            "last_name",
            "date_of_birth",
            "phone",
            "email",
            "location",
            "reminder_channel",
            "reminder_opt_in",
            "front_desk_notes",
        ]
        widgets = {
            "date_of_birth": DateInput,
            "front_desk_notes": forms.Textarea(attrs={"rows": 3}),
        }

    def __init__(self, *args, locations, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["location"].queryset = locations
        if locations.count() == 1 and not self.instance.pk:
            self.fields["location"].initial = locations.first()

    def show_duplicate_confirmation(self) -> None:
        self.fields["confirm_duplicate"].widget = forms.CheckboxInput()


class SlotForm(forms.Form):
    """Shared by booking and rescheduling: who, where and when, in the clinic's time zone."""

    def _set_choices(self, *, practitioners, rooms, can_override: bool) -> None:
        self.fields["practitioner"].queryset = practitioners
        self.fields["practitioner"].label_from_instance = lambda u: u.get_full_name() or u.username
        self.fields["room"].queryset = rooms
        if not can_override:
            del self.fields["override_hours"]

    def clean(self):
        cleaned = super().clean()
        day, time = cleaned.get("date"), cleaned.get("time")
        if day and time and not wall_instants(day, time):
            self.add_error(
                "time",
                f"{time:%H:%M} does not exist on {day:%d %B}: the clocks go forward that night. "
                "Choose another time.",
            )
        return cleaned

    def starts_at(self) -> dt.datetime:
        """The instant booked: on the night the clocks go back, a time of the repeated hour is
        its first occurrence (summer time)."""
        d = self.cleaned_data
        return timezone.localtime(wall_instants(d["date"], d["time"])[0])


class BookingForm(SlotForm):
    patient = forms.ModelChoiceField(
        queryset=Patient.objects.none(),
        widget=forms.HiddenInput,
        error_messages={"required": "Choose a patient: search by name, phone or date of birth."},
    )
    location = forms.ModelChoiceField(queryset=None, widget=forms.HiddenInput)
    practitioner = forms.ModelChoiceField(queryset=None)
    date = forms.DateField(widget=DateInput)
    time = forms.TimeField(widget=TimeInput, help_text="Quarter hours, e.g. 10:15")
    duration_minutes = forms.TypedChoiceField(choices=DURATIONS, coerce=int, initial=45, label="Duration")
    treatment_type = forms.ChoiceField(choices=TreatmentType.choices)
    room = forms.ModelChoiceField(queryset=None, required=False, empty_label="No room needed")
    # Bounded like every id: a number past 64 bits would overflow the plan look-up.
    plan = forms.IntegerField(required=False, min_value=1, max_value=MAX_ID, widget=forms.HiddenInput)
    booking_notes = forms.CharField(
        max_length=300, required=False, label="Notes for the desk", help_text="Nothing clinical."
    )
    override_hours = forms.BooleanField(required=False, label="Book outside working hours")

    def __init__(self, *args, patients, locations, practitioners, rooms, can_override: bool, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["patient"].queryset = patients
        self.fields["location"].queryset = locations
        self._set_choices(practitioners=practitioners, rooms=rooms, can_override=can_override)


class RescheduleForm(SlotForm):
    date = forms.DateField(widget=DateInput)
    time = forms.TimeField(widget=TimeInput)
    duration_minutes = forms.TypedChoiceField(choices=DURATIONS, coerce=int, label="Duration")
    practitioner = forms.ModelChoiceField(queryset=None)
    room = forms.ModelChoiceField(queryset=None, required=False, empty_label="No room needed")
    reason = forms.CharField(max_length=200, required=False, help_text="Kept in the session's history.")
    override_hours = forms.BooleanField(required=False, label="Book outside working hours")

    def __init__(self, *args, practitioners, rooms, can_override: bool, **kwargs):
        super().__init__(*args, **kwargs)
        self._set_choices(practitioners=practitioners, rooms=rooms, can_override=can_override)


class DataRightsReasonForm(forms.Form):
    """Why a patient's processing is restricted, or why the restriction is lifted."""

    reason = forms.CharField(
        max_length=300,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Kept in the audit trail, e.g. “patient contests the accuracy of their record”.",
    )


class ErasureRequestForm(forms.ModelForm):
    """A patient's request to erase their data, as the manager records it."""

    identity_checked = forms.BooleanField(
        label="I have checked that the request comes from the patient (or someone entitled to make it)",
    )

    class Meta:
        model = ErasureRequest
        fields = ["received_on", "channel", "erase_retired_photos"]
        widgets = {"received_on": DateInput()}


class CancelForm(forms.Form):
    reason = forms.CharField(max_length=200, label="Reason for cancelling")


NOTE_MAX = Session._meta.get_field("patient_note").max_length


class PatientAnswerForm(forms.Form):
    """The patient's answer on their reminder link page (no login). Cancelling takes a second
    press: ``confirm`` is sent only by the "Yes, cancel it" button."""

    answer = forms.ChoiceField(
        choices=[("confirmed", "Confirm"), ("cancelled", "Cancel"), ("reschedule", "Ask to reschedule")],
        error_messages={"required": "Choose an answer.", "invalid_choice": "Unknown answer."},
    )
    note = forms.CharField(
        max_length=NOTE_MAX,
        required=False,
        error_messages={
            "max_length": f"Please keep the note to {NOTE_MAX} characters or fewer.",
            "null_characters_not_allowed": (
                "The note holds a character that cannot be saved; please retype it."
            ),
        },
    )
    confirm = forms.BooleanField(required=False)


class PlanForm(forms.Form):
    template = forms.ModelChoiceField(
        queryset=ProtocolTemplate.objects.filter(is_active=True), label="Protocol"
    )
    induction_sessions = forms.IntegerField(
        min_value=1,
        max_value=12,
        required=False,
        help_text="Leave empty for the protocol's default (hair: 4–6).",
    )
    started_on = forms.DateField(widget=DateInput, initial=timezone.localdate, label="First session due on")


class ProtocolTemplateForm(forms.ModelForm):
    chart_areas = forms.MultipleChoiceField(
        label="Charting starts with: areas",
        choices=Area.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )

    class Meta:
        model = ProtocolTemplate
        # The fields the service audits, so every edit is in the audit row.
        fields = list(TEMPLATE_FIELDS)
        labels = {
            "chart_route": "Charting starts with: route",
            "chart_areas": "Charting starts with: areas",
            "chart_vials": "Charting starts with: sealed vials",
            "chart_needle_gauge": "Charting starts with: needle gauge (G)",
            "chart_depth_mm": "Charting starts with: depth (mm)",
            "chart_volume_per_point_ml": "Charting starts with: volume per point (mL)",
            "chart_spacing_cm": "Charting starts with: spacing (cm)",
            "induction_sessions": "Induction sessions (default)",
            "induction_sessions_max": "Induction sessions (most)",
            "induction_interval_days": "Days between induction sessions",
            "maintenance_min_days": "Maintenance every (days, from)",
            "maintenance_max_days": "Maintenance every (days, to)",
        }
        widgets = {"description": forms.Textarea(attrs={"rows": 2})}

    # Limits of a plausible default (the record refuses the same impossible values).
    CHART_LIMITS = {
        "chart_vials": (1, 20),
        "chart_needle_gauge": (14, 34),
        "chart_depth_mm": (Decimal("0.1"), Decimal("10")),
        "chart_volume_per_point_ml": (Decimal("0.001"), Decimal("1")),
        "chart_spacing_cm": (Decimal("0.1"), Decimal("5")),
    }

    def clean(self):
        data = super().clean()
        for name, (low, high) in self.CHART_LIMITS.items():
            value = data.get(name)
            if value is not None and not low <= value <= high:
                self.add_error(name, f"Give a value from {low} to {high}, or leave it empty.")
        lo, hi = data.get("maintenance_min_days"), data.get("maintenance_max_days")
        if lo is not None and hi is not None and hi < lo:
            self.add_error("maintenance_max_days", "Must be at least the “from” number of days.")
        n, most = data.get("induction_sessions"), data.get("induction_sessions_max")
        if n is not None and most is not None and most < n:
            self.add_error("induction_sessions_max", "Must be at least the default number.")
        return data


class WorkingHoursRowForm(forms.Form):
    # The blank choice keeps an untouched extra row blank (so it is skipped, not an error).
    weekday = forms.TypedChoiceField(
        choices=[("", "Day…"), *WorkingHours.Weekday.choices], coerce=int, label="Day"
    )
    start_time = forms.TimeField(widget=TimeInput, label="From")
    end_time = forms.TimeField(widget=TimeInput, label="To")

    def clean(self):
        data = super().clean()
        if data.get("start_time") and data.get("end_time") and data["end_time"] <= data["start_time"]:
            raise forms.ValidationError("The end must be after the start.")
        return data


WorkingHoursFormSet = forms.formset_factory(WorkingHoursRowForm, extra=2, can_delete=True)


class ContactAttemptForm(forms.ModelForm):
    class Meta:
        model = ContactAttempt
        fields = ["outcome", "note"]

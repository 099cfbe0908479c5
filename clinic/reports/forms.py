"""Report filters: a location among the manager's own, and a period (or a month)."""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from django import forms
from django.utils import timezone

from clinic.forms import WorkingDateField, plausible_day
from clinic.models import Location
from clinic.reports.periods import add_months, month_end, month_start
from clinic.scoping import location_ids_for

MAX_PERIOD_DAYS = 3 * 366


class ScopeForm(forms.Form):
    """Location filter; empty means all the manager's locations."""

    location = forms.ModelChoiceField(
        queryset=Location.objects.none(), required=False, empty_label="All my locations"
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        cast(forms.ModelChoiceField, self.fields["location"]).queryset = Location.objects.filter(
            id__in=location_ids_for(user)
        ).order_by("name")

    def locations(self):
        """The location ids the report covers (a subquery unless one location is chosen)."""
        chosen = self.cleaned_data.get("location") if self.is_valid() else None
        if chosen is not None:
            return [chosen.pk]
        return location_ids_for(self.user)


class PeriodForm(ScopeForm):
    """Location and an inclusive date range; defaults to the last 12 months up to today."""

    date_from = WorkingDateField(required=False, label="From")
    date_to = WorkingDateField(required=False, label="To")

    default_months = 12

    def clean(self):
        super().clean()
        data = self.cleaned_data
        today = timezone.localdate()
        date_to = data.get("date_to") or today
        date_from = data.get("date_from") or add_months(month_start(date_to), 1 - self.default_months)
        if date_from > date_to:
            raise forms.ValidationError("“From” must be on or before “To”.")
        if (date_to - date_from).days > MAX_PERIOD_DAYS:
            raise forms.ValidationError("Choose a period of three years or less.")
        data["date_from"], data["date_to"] = date_from, date_to
        return data

    def period(self) -> tuple[dt.date, dt.date]:
        if self.is_valid():
            return self.cleaned_data["date_from"], self.cleaned_data["date_to"]
        today = timezone.localdate()
        return add_months(month_start(today), 1 - self.default_months), today


class RegisterPeriodForm(PeriodForm):
    """The treatment register defaults to the current month."""

    default_months = 1


class ColdChainForm(forms.Form):
    """A storage unit at the manager's locations and a month (YYYY-MM)."""

    unit: forms.ModelChoiceField[Any] = forms.ModelChoiceField(queryset=None, label="Storage unit")
    month = forms.DateField(
        required=False,
        input_formats=["%Y-%m"],
        widget=forms.DateInput(attrs={"type": "month"}, format="%Y-%m"),
        help_text="Defaults to last month.",
    )

    def __init__(self, *args, user, **kwargs):
        from products.models import StorageUnit

        super().__init__(*args, **kwargs)
        cast(forms.ModelChoiceField, self.fields["unit"]).queryset = StorageUnit.objects.for_user(
            user
        ).select_related("location")

    def clean_month(self):
        value = self.cleaned_data.get("month")
        if value is None:
            return add_months(month_start(timezone.localdate()), -1)
        if value > timezone.localdate():
            raise forms.ValidationError("Choose this month or an earlier one.")
        if not plausible_day(value):
            raise forms.ValidationError("Choose a month from 2000 on.")
        return month_start(value)


class RecallSearchForm(ScopeForm):
    """A product and the period its lots were used in (recall without a single lot)."""

    product: forms.ModelChoiceField[Any] = forms.ModelChoiceField(queryset=None)
    date_from = WorkingDateField(label="Treated from")
    date_to = WorkingDateField(label="Treated to")

    def __init__(self, *args, user, **kwargs):
        from products.models import Product

        super().__init__(*args, user=user, **kwargs)
        cast(forms.ModelChoiceField, self.fields["product"]).queryset = Product.objects.filter(
            lots__storage_unit__location__in=location_ids_for(user)
        ).distinct()

    def clean(self):
        super().clean()
        data = self.cleaned_data
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            raise forms.ValidationError("“Treated from” must be on or before “Treated to”.")
        return data


class RecallRunForm(forms.Form):
    reason = forms.CharField(
        max_length=200,
        label="Recall notice or reason",
        help_text="e.g. the manufacturer's recall reference. Recorded on the lot and in the audit trail.",
    )
    confirm = forms.BooleanField(
        label="I have checked the lot number: recall it and prepare messages to the patients treated with it"
    )


class HeldMessageForm(forms.Form):
    subject = forms.CharField(max_length=200)
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 6}), label="Text")


def month_label(month: dt.date) -> str:
    return f"{month:%B %Y} (1–{month_end(month).day})"

"""Forms of the stock-take pages: what to count, the counts, the reasons for differences."""

from __future__ import annotations

from django import forms

from clinic.forms import parse_id
from products.models import StockTakeLine
from products.services.stocktake import MAX_COUNT

# Offered under every reason field (a datalist: the person may type anything else).
COMMON_REASONS = (
    "Vial broken or damaged, not booked as waste",
    "Used in a treatment that was not recorded",
    "Delivery not booked in",
    "Vials put in the wrong unit",
    "Earlier count was wrong",
)


def _tag(line: StockTakeLine) -> str:
    return f"{line.lot.product.name} lot {line.lot.lot_number}"


class StockTakeStartForm(forms.Form):
    """A whole location or one storage unit, as radio buttons (easy to tap on a tablet)."""

    scope = forms.ChoiceField(label="What to count", widget=forms.RadioSelect)
    note = forms.CharField(max_length=300, required=False, help_text="Optional, e.g. “monthly count”.")

    def __init__(self, *args, locations, units, **kwargs):
        super().__init__(*args, **kwargs)
        self.locations = {loc.pk: loc for loc in locations}
        self.units = {unit.pk: unit for unit in units}
        choices = []
        for loc in self.locations.values():
            choices.append((f"location-{loc.pk}", f"Every unit at {loc.name}"))
            choices += [
                (f"unit-{unit.pk}", f"{unit.name} ({loc.name})")
                for unit in self.units.values()
                if unit.location_id == loc.pk
            ]
        self.fields["scope"].choices = choices

    def clean_scope(self):
        kind, _, raw = self.cleaned_data["scope"].partition("-")
        pk = parse_id(raw)
        if kind == "unit" and pk in self.units:
            unit = self.units[pk]
            return self.locations[unit.location_id], unit
        if kind == "location" and pk in self.locations:
            return self.locations[pk], None
        raise forms.ValidationError("Choose a storage unit or a location.")


class StockTakeCountForm(forms.Form):
    """One big number field per line (``line-<id>``); empty means "not counted yet"."""

    def __init__(self, *args, lines: list[StockTakeLine], **kwargs):
        super().__init__(*args, **kwargs)
        self.lines = lines
        for line in lines:
            self.fields[f"line-{line.pk}"] = forms.IntegerField(
                label=f"Counted: {_tag(line)}",
                required=False,
                min_value=0,
                max_value=MAX_COUNT,
                initial=line.counted_quantity,
                error_messages={
                    "invalid": f"Enter the sealed vials of lot {line.lot.lot_number} in digits only.",
                    "min_value": f"The count of lot {line.lot.lot_number} cannot be below 0.",
                    "max_value": f"The count of lot {line.lot.lot_number} cannot be above {MAX_COUNT}.",
                },
                widget=forms.NumberInput(
                    attrs={
                        "inputmode": "numeric",
                        "pattern": "[0-9]*",
                        "class": "form-control form-control-lg count-input",
                        "autocomplete": "off",
                        "data-lot-number": line.lot.lot_number,
                    }
                ),
            )

    def shown(self, line: StockTakeLine) -> str:
        """The count this page showed for the line when it was loaded (sent back as ``was-<id>``)."""
        if self.is_bound and f"was-{line.pk}" in self.data:
            return str(self.data[f"was-{line.pk}"])
        return "" if line.counted_quantity is None else str(line.counted_quantity)

    def counts(self) -> dict[int, int | None]:
        """The counts this person changed. A field left as the page showed it is not sent on,
        so two people counting one location on two tablets never blank each other's counts."""
        changed = {}
        for line in self.lines:
            name = f"line-{line.pk}"
            was = self.data.get(f"was-{line.pk}")
            if was is not None and str(was).strip() == str(self.data.get(name, "")).strip():
                continue
            changed[line.pk] = self.cleaned_data[name]
        return changed

    def field_for(self, line: StockTakeLine):
        return self[f"line-{line.pk}"]


class StockTakeReviewForm(forms.Form):
    """A reason per difference (``reason-<id>``), each required before posting."""

    def __init__(self, *args, lines: list[StockTakeLine], **kwargs):
        super().__init__(*args, **kwargs)
        self.lines = lines
        for line in lines:
            self.fields[f"reason-{line.pk}"] = forms.CharField(
                label=f"Why does {_tag(line)} differ?",
                max_length=200,
                required=False,
                initial=line.reason,
                widget=forms.TextInput(attrs={"list": "stocktake-reasons", "class": "form-control"}),
            )

    def clean(self):
        data = super().clean()
        for line in self.lines:
            name = f"reason-{line.pk}"
            if name in data and not (data[name] or "").strip():
                self.add_error(
                    name,
                    f"Say why lot {line.lot.lot_number} was counted at {line.counted_quantity} "
                    f"instead of {line.expected_quantity}.",
                )
        return data

    def reasons(self) -> dict[int, str]:
        return {line.pk: self.cleaned_data[f"reason-{line.pk}"] for line in self.lines}

    def field_for(self, line: StockTakeLine):
        return self[f"reason-{line.pk}"]


class StockTakeCancelForm(forms.Form):
    reason = forms.CharField(max_length=200, required=False, label="Why cancel (optional)")

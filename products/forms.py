"""Forms for the products pages. Each explains its errors in words a clinic uses."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django import forms
from django.utils import timezone

from products.gs1 import GS1Error, looks_like_gs1, parse_gs1
from products.models import (
    Classification,
    DocumentType,
    Excursion,
    Format,
    Jurisdiction,
    LotStatus,
    Product,
    StorageUnit,
)
from products.models.coldchain import Decision, LoggerClock
from products.models.stock import WasteReason
from products.services.catalogue import PRODUCT_FIELDS, UNIT_FIELDS
from products.services.excursions import REVIEW_FIELDS

# More vials than any delivery, shelf or waste could hold: a typo (or a probe), refused in words
# on the field before a number past the database's integer column reaches the ledger.
MAX_VIALS = 10_000
# A stated concentration past this is a typo (products state 10^8 to 10^12 particles/mL), and a
# number near the column's 20 digits comes back from SQLite as a float too large to read.
MAX_PARTICLES_PER_ML = Decimal(10**15)


def concentration_field(**kwargs) -> forms.DecimalField:
    return forms.DecimalField(
        max_digits=20, decimal_places=0, min_value=0, max_value=MAX_PARTICLES_PER_ML, required=False, **kwargs
    )


class DateInput(forms.DateInput):
    input_type = "date"


class DateTimeInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def format_value(self, value):
        # A form field hands the widget a naive clinic-time value (DateTimeField.prepare_value),
        # a bare widget may get an aware one. Either way minutes, "T"-separated: str() of a
        # datetime (microseconds, a space) is not a datetime-local value and the browser
        # showed the field empty instead of the time the view filled in.
        if hasattr(value, "strftime"):
            local = timezone.localtime(value) if timezone.is_aware(value) else value
            return local.strftime("%Y-%m-%dT%H:%M")
        return value


class PastLocalDateTimeField(forms.DateTimeField):
    """A clinic-time date and time of something that has happened (a check, a phone call).

    A ``datetime-local`` input carries no offset. On the night the clocks go back 01:00–02:00
    happens twice and Django refuses such a time as ambiguous, so a check made then could not
    be saved, not even with the time the form filled in itself. It is read as the later of the
    two instants once that one has begun, else the earlier: the one that has happened. A time
    in the hour skipped when the clocks go forward is refused, saying so.
    """

    # A wall clock a few minutes fast still means "the one that has happened" (reading_record
    # accepts readings up to five minutes ahead for the same reason).
    SLACK = dt.timedelta(minutes=5)

    def to_python(self, value):
        try:
            return super().to_python(value)
        except forms.ValidationError as exc:
            if exc.code != "ambiguous_timezone":
                raise
            naive = exc.params["datetime"]
        zone = timezone.get_current_timezone()
        first, second = naive.replace(tzinfo=zone, fold=0), naive.replace(tzinfo=zone, fold=1)
        if first.astimezone(dt.UTC).astimezone(zone).replace(tzinfo=None) != naive:
            raise forms.ValidationError(
                f"{naive:%H:%M} on {naive.day} {naive:%b %Y} did not happen here: the clocks went "
                "forward an hour that night. Check the time.",
                code="nonexistent_time",
            )
        # In UTC: Python never counts an aware time in the repeated hour equal to one in
        # another zone (PEP 495), so the zone-local value would not match the stored reading.
        return (second if second <= timezone.now() + self.SLACK else first).astimezone(dt.UTC)

    def validate(self, value) -> None:
        super().validate(value)
        if value is not None and value > timezone.now() + self.SLACK:
            raise forms.ValidationError("This time has not happened yet: check the date and time.")
        if value is not None and value.year < 2000:
            raise forms.ValidationError("Check the date: it is before 2000.")


class ProductForm(forms.ModelForm):
    concentration_per_ml = concentration_field(
        label="Stated concentration (particles/mL)",
        help_text="As the label states it; there is no agreed measuring standard.",
    )

    class Meta:
        model = Product
        fields = list(PRODUCT_FIELDS)


class StorageUnitForm(forms.ModelForm):
    class Meta:
        model = StorageUnit
        fields = list(UNIT_FIELDS)
        widgets = {"calibration_expires_on": DateInput}

    def __init__(self, *args, locations, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["location"].queryset = locations
        for name in ("warm_after_minutes", "cold_after_minutes"):
            self.fields[name].required = False  # empty is the default: any reading out of range
            self.fields[name].help_text = "0 or empty: any reading out of range is a breach."
        self.fields["logger_clock"].required = False  # empty: the clinic's local time

    def clean_logger_clock(self) -> str:
        return self.cleaned_data.get("logger_clock") or LoggerClock.LOCAL

    def clean_warm_after_minutes(self) -> int:
        return self.cleaned_data.get("warm_after_minutes") or 0

    def clean_cold_after_minutes(self) -> int:
        return self.cleaned_data.get("cold_after_minutes") or 0


class ReceiveForm(forms.Form):
    """Receiving a delivery. The lot field also takes a scanned GS1 string (server-side parse)."""

    lot_number = forms.CharField(
        label="Lot number or scan",
        max_length=200,
        required=False,
        help_text="Type the lot, or scan the box barcode here: GTIN, lot and expiry are filled in.",
        widget=forms.TextInput(attrs={"autofocus": True, "autocomplete": "off", "data-gs1-scan": "1"}),
    )
    product = forms.ModelChoiceField(queryset=Product.objects.none(), required=False)
    expiry_date = forms.DateField(widget=DateInput, required=False)
    quantity = forms.IntegerField(label="Vials received", min_value=1, max_value=MAX_VIALS)
    storage_unit = forms.ModelChoiceField(queryset=StorageUnit.objects.none())
    hold_confirmed = forms.BooleanField(
        label="If the unit is out of range right now, receive the lot into it anyway and hold it",
        required=False,
        help_text="Stock put in a unit during an excursion is quarantined with it; "
        "without this, such a move is refused.",
    )
    gtin = forms.CharField(label="GTIN", max_length=14, required=False)
    record_gtin = forms.BooleanField(
        label="Record this GTIN on the chosen product",
        required=False,
        help_text="When the product has no GTIN in the catalogue yet: later scans then find it.",
    )
    serial = forms.CharField(max_length=40, required=False)
    manufactured_on = forms.DateField(widget=DateInput, required=False)
    supplier_reference = forms.CharField(max_length=80, required=False, label="Supplier reference / invoice")
    arrival_temperature_c = forms.DecimalField(
        label="Temperature on arrival (°C)", max_digits=5, decimal_places=1, required=False
    )
    logger_ok = forms.NullBooleanField(
        label="Shipping logger",
        required=False,
        widget=forms.Select(
            choices=[("unknown", "No logger"), ("true", "Logger OK"), ("false", "Logger alarm")]
        ),
    )
    packaging_intact = forms.BooleanField(label="Packaging intact", required=False, initial=True)
    certificate_concentration_per_ml = concentration_field(
        label="Concentration on the certificate (particles/mL)"
    )

    def __init__(self, data=None, *, products, units, **kwargs):
        self.scan_error = ""
        self.scanned = None
        if data is not None:
            data = data.copy()
            raw = data.get("lot_number", "")
            if raw and looks_like_gs1(raw):
                try:
                    self.scanned = parse_gs1(raw)
                except GS1Error as exc:
                    self.scan_error = str(exc)
                else:
                    self._fill_from_scan(data, products)
        super().__init__(data, **kwargs)
        self.fields["product"].queryset = products
        self.fields["storage_unit"].queryset = units
        self._name_record_gtin(data, products)

    def _name_record_gtin(self, data, products) -> None:
        """Say which GTIN goes on which product, once both are known."""
        if data is None or not data.get("gtin") or not str(data.get("product", "")).isdigit():
            return
        chosen = products.filter(pk=data["product"]).first()
        if chosen is not None and not chosen.gtin:
            self.fields["record_gtin"].label = f"Record GTIN {data['gtin']} on {chosen.name}"

    def _fill_from_scan(self, data, products) -> None:
        s = self.scanned
        data["lot_number"] = s.lot
        if s.expiry:
            data["expiry_date"] = s.expiry.isoformat()
        if s.gtin:
            data["gtin"] = s.gtin
            if not data.get("product"):
                match = products.filter(gtin=s.gtin).first()
                if match is not None:
                    data["product"] = str(match.pk)
        if s.serial:
            data["serial"] = s.serial

    def clean(self):
        data = super().clean()
        if self.scan_error:
            self.add_error("lot_number", f"The scan could not be read: {self.scan_error}")
            return data
        if not data.get("lot_number"):
            self.add_error("lot_number", "Enter the lot number or scan the barcode.")
        if not data.get("expiry_date"):
            self.add_error("expiry_date", "Enter the expiry date.")
        product, gtin = data.get("product"), data.get("gtin")
        if not product:
            if gtin:
                self.add_error(
                    "product",
                    f"No product in the catalogue has GTIN {gtin}; choose it. If it has no GTIN yet, "
                    "tick “Record this GTIN on the chosen product” to add this one to the catalogue.",
                )
            else:
                self.add_error("product", "Choose the product.")
        elif gtin and product.gtin and gtin.zfill(14) != product.gtin:
            # Another product's box, or a typo: never file a lot under the wrong product.
            self.add_error(
                "gtin",
                f"The scanned GTIN {gtin} is not {product.name}'s: the catalogue has {product.gtin} for it. "
                f"Check that the box is {product.name}; if it is, correct the product's GTIN in the "
                "catalogue (or clear this field).",
            )
        elif not (gtin and not product.gtin):
            data["record_gtin"] = False  # nothing to record
        manufactured, expiry = data.get("manufactured_on"), data.get("expiry_date")
        if manufactured and expiry and manufactured >= expiry:
            self.add_error("manufactured_on", "The manufacture date must be before the expiry.")
        return data


class ReceiveCertificateForm(forms.Form):
    """The delivery's certificate of analysis, filed with the lot as it is received (optional:
    it can be uploaded from the lot's page later, but the lot is not cleared until then)."""

    file = forms.FileField(
        label="Certificate of analysis",
        required=False,
        help_text="PDF, JPEG or PNG, at most 20 MB. With it, the lot is cleared for use at once.",
    )
    reference = forms.CharField(label="Certificate reference", max_length=100, required=False)
    issuer = forms.CharField(
        max_length=150, required=False, help_text="Leave empty for the product's manufacturer."
    )
    issued_on = forms.DateField(label="Issue date", widget=DateInput, required=False)
    expires_on = forms.DateField(
        label="Certificate expiry", widget=DateInput, required=False, help_text="Leave empty if none."
    )

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("prefix", "coa")
        super().__init__(*args, **kwargs)
        self.fields["file"].widget.attrs["accept"] = "application/pdf,image/jpeg,image/png"

    def clean(self):
        data = super().clean()
        if data.get("file"):
            if not data.get("reference"):
                self.add_error("reference", "Give the certificate's reference number.")
            if not data.get("issued_on"):
                self.add_error("issued_on", "Give the date the certificate was issued.")
        elif data.get("reference") or data.get("issued_on") or data.get("expires_on"):
            self.add_error("file", "Attach the certificate file, or leave its details empty.")
        issued, expires = data.get("issued_on"), data.get("expires_on")
        if issued and expires and expires <= issued:
            self.add_error("expires_on", "The expiry date must be after the issue date.")
        return data


class WasteForm(forms.Form):
    quantity = forms.IntegerField(label="Vials", min_value=1, max_value=MAX_VIALS)
    reason = forms.ChoiceField(choices=[("", "—"), *WasteReason.choices])
    note = forms.CharField(max_length=300, required=False)


class AdjustForm(forms.Form):
    counted = forms.IntegerField(label="Vials counted on the shelf", min_value=0, max_value=MAX_VIALS)
    reason = forms.CharField(max_length=300, help_text="Required: why the count differs.")


class TransferForm(forms.Form):
    to_unit = forms.ModelChoiceField(queryset=StorageUnit.objects.none(), label="Move to")
    quantity = forms.IntegerField(
        label="Vials to move",
        required=False,
        min_value=1,
        max_value=100_000,
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
        help_text="Leave empty to move all of them. Fewer splits the lot: it then has stock in both places.",
    )
    hold_confirmed = forms.BooleanField(
        label="If the unit is out of range right now, move the lot into it anyway and hold it",
        required=False,
        help_text="Stock put in a unit during an excursion is quarantined with it; "
        "without this, such a move is refused.",
    )
    note = forms.CharField(max_length=300, required=False)

    def __init__(self, *args, units, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["to_unit"].queryset = units


class ReasonForm(forms.Form):
    reason = forms.CharField(max_length=200, widget=forms.Textarea(attrs={"rows": 2}))


class VialDrawForm(forms.Form):
    volume_ml = forms.DecimalField(label="Volume drawn (mL)", max_digits=6, decimal_places=2, min_value=0.01)
    reference = forms.CharField(max_length=80, required=False, help_text="Patient or treatment reference.")


class VialDiscardForm(forms.Form):
    reason = forms.ChoiceField(choices=[("", "—"), *WasteReason.choices])


class ReadingForm(forms.Form):
    taken_at = PastLocalDateTimeField(label="Checked at", widget=DateTimeInput)
    temperature_c = forms.DecimalField(label="Current (°C)", max_digits=5, decimal_places=2)
    min_c = forms.DecimalField(
        label="Minimum since last check (°C)", max_digits=5, decimal_places=2, required=False
    )
    max_c = forms.DecimalField(
        label="Maximum since last check (°C)", max_digits=5, decimal_places=2, required=False
    )


class ImportForm(forms.Form):
    file = forms.FileField(
        label="Logger file (CSV or text export)",
        help_text="As the logger's software exports it: LogTag, Fridge-tag, Elitech or any CSV with a "
        "time and a temperature column. The layout, separator, date format and °C/°F are read from "
        "the file; you are asked when the file does not tell.",
    )

    MAX_BYTES = 20 * 1024 * 1024

    def clean_file(self):
        f = self.cleaned_data["file"]
        if f.size > self.MAX_BYTES:
            raise forms.ValidationError("The file is larger than 20 MB; split it by month.")
        return f


class ImportAnswerForm(forms.Form):
    """The questions a file left open (its date order, its temperature unit), one radio each,
    each choice showing how the file's sample line reads with it."""

    def __init__(self, *args, questions: list[dict], **kwargs):
        super().__init__(*args, **kwargs)
        for q in questions:
            self.fields[q["key"]] = forms.ChoiceField(
                label=q["prompt"],
                choices=[(key, f"{reading}") for key, reading in q["choices"].items()],
                widget=forms.RadioSelect,
                help_text=f"Line {q['line']} of the file reads “{q['text']}”.",
                error_messages={"required": "Choose how the file should be read."},
            )


class StockFilterForm(forms.Form):
    format = forms.ChoiceField(choices=[("", "Any format"), *Format.choices], required=False)
    status = forms.ChoiceField(choices=[("", "Any status"), *LotStatus.choices], required=False)
    location = forms.ModelChoiceField(queryset=None, required=False, empty_label="All my locations")

    def __init__(self, *args, locations, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["location"].queryset = locations


class ExcursionReviewForm(forms.ModelForm):
    """The CDC storage-troubleshooting record, and one decision per held lot."""

    class Meta:
        model = Excursion
        fields = list(REVIEW_FIELDS)
        widgets = {
            "what_happened": forms.Textarea(attrs={"rows": 3}),
            "manufacturer_answer": forms.Textarea(attrs={"rows": 2}),
            "prevention": forms.Textarea(attrs={"rows": 2}),
            "manufacturer_contacted_at": DateTimeInput,
        }
        field_classes = {"manufacturer_contacted_at": PastLocalDateTimeField}

    def __init__(self, *args, held, **kwargs):
        super().__init__(*args, **kwargs)
        # Below the unit's breach rules nothing is held, so there is nothing to decide.
        self.held = held if self.instance.breach else []
        for item in self.held:
            lot = item.lot
            exposure = (
                f"{_minutes_text(item.exposed_minutes)} out of range in this excursion, "
                f"{_minutes_text(getattr(item, 'lifetime_minutes', None) or item.exposed_minutes)} "
                "over its life"
            )
            self.fields[f"decision_{lot.pk}"] = forms.ChoiceField(
                label=f"Decision for lot {lot.lot_number} ({lot.product})",
                help_text=exposure.capitalize() + ".",
                choices=[("", "—"), *Decision.choices],
                required=False,
                initial=item.decision,
            )
            self.fields[f"reason_{lot.pk}"] = forms.CharField(
                label=f"Reason for lot {lot.lot_number}", max_length=300, required=False, initial=item.reason
            )

    def decisions(self) -> dict[int, tuple[str, str]]:
        return {
            item.lot_id: (
                self.cleaned_data.get(f"decision_{item.lot_id}", ""),
                self.cleaned_data.get(f"reason_{item.lot_id}", ""),
            )
            for item in self.held
        }

    def review(self) -> dict:
        return {name: self.cleaned_data.get(name) for name in REVIEW_FIELDS}


def _minutes_text(value: int) -> str:
    hours, minutes = divmod(value or 0, 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"


class AddendumForm(forms.Form):
    text = forms.CharField(label="Addendum", widget=forms.Textarea(attrs={"rows": 3}))


# --- Compliance -------------------------------------------------------------------------------


class ClassificationForm(forms.Form):
    classification = forms.ChoiceField(choices=Classification.choices)
    jurisdictions = forms.MultipleChoiceField(
        choices=Jurisdiction.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Where the supplier's statement of classification holds.",
    )
    intended_topical = forms.BooleanField(label="Topical (microchannels)", required=False)
    intended_intradermal = forms.BooleanField(label="Intradermal injection", required=False)
    intended_scalp = forms.BooleanField(label="Scalp injection", required=False)

    @classmethod
    def for_product(cls, product: Product, data=None) -> ClassificationForm:
        initial = {
            "classification": product.classification,
            "jurisdictions": product.jurisdictions,
            "intended_topical": product.intended_topical,
            "intended_intradermal": product.intended_intradermal,
            "intended_scalp": product.intended_scalp,
        }
        return cls(data, initial=initial, prefix="cls")


class DocumentForm(forms.Form):
    """Upload (or renew) a regulatory document; the file is checked by content in the service."""

    doc_type = forms.ChoiceField(label="Type", choices=DocumentType.choices)
    issuer = forms.CharField(max_length=150, help_text="Notified body, manufacturer or authority.")
    reference = forms.CharField(label="Reference number", max_length=100)
    issued_on = forms.DateField(label="Issue date", widget=DateInput)
    expires_on = forms.DateField(
        label="Expiry date", required=False, widget=DateInput, help_text="Leave empty if it does not expire."
    )
    file = forms.FileField(help_text="PDF, JPEG or PNG, at most 20 MB.")

    def __init__(self, *args, for_lot: bool = False, renewing=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["file"].widget.attrs["accept"] = "application/pdf,image/jpeg,image/png"
        choices = [(v, label) for v, label in DocumentType.choices if for_lot or v != DocumentType.COA]
        self.fields["doc_type"].choices = choices
        if renewing is not None:
            self.fields["doc_type"].disabled = True
            self.fields["doc_type"].initial = renewing.doc_type
            self.fields["issuer"].initial = renewing.issuer

    def clean(self):
        data = super().clean()
        issued, expires = data.get("issued_on"), data.get("expires_on")
        if issued and expires and expires <= issued:
            self.add_error("expires_on", "The expiry date must be after the issue date.")
        return data


class RevokeApprovalForm(forms.Form):
    reason = forms.CharField(label="Why is the approval revoked?", max_length=300)

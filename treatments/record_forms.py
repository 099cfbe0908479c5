"""Forms of the treatment record: the checks and procedure, and one form per product line.

The forms only shape the input; every rule (consent, screening, clearance, route, amounts)
is enforced again by ``treatment_record_save``.
"""

from __future__ import annotations

from dataclasses import dataclass

from django import forms
from django.utils import timezone

from products import compliance
from products.gs1 import GS1Error, looks_like_gs1, parse_gs1
from products.models import Lot, OpenedVial
from treatments.models import Anaesthesia, Area, CombinedProcedure, LineSource, Route, Severity
from treatments.services import AdverseEventInput, LineInput


@dataclass
class LotOffer:
    """A lot the practitioner may pick (FEFO order) or one shown as not offered, with why."""

    lot: Lot
    problems: list[str]

    @property
    def label(self) -> str:
        lot = self.lot
        return (
            f"{lot.product} · lot {lot.lot_number} · exp {lot.expiry_date:%d %b %Y} · "
            f"{lot.quantity_on_hand} vial(s)"
        )


def lot_offers(user, location) -> tuple[list[LotOffer], list[LotOffer]]:
    """(offered, not offered): available lots at the location, first expiry first, split by
    clearance; the offered ones are exactly ``Lot.objects.usable()`` there."""
    lots = (
        Lot.objects.for_user(user)
        .available()
        .fefo()
        .filter(storage_unit__location=location)
        .select_related("product", "storage_unit")
    )
    offered, refused = [], []
    # One query for every lot's documents when the compliance module can batch them.
    prefetch = getattr(compliance, "prefetch_clearance", None)
    lots = prefetch(lots) if prefetch else list(lots)
    for lot in lots:
        problems = compliance.lot_clearance_problems(lot)
        (refused if problems else offered).append(LotOffer(lot, problems))
    return offered, refused


def known_lots(user, location) -> dict[str, Lot]:
    """Every lot at the location (any state), to accept on saving what the form offered earlier."""
    lots = Lot.objects.for_user(user).filter(storage_unit__location=location).select_related("product")
    return {str(lot.pk): lot for lot in lots}


def known_vials(user, location) -> dict[str, OpenedVial]:
    vials = (
        OpenedVial.objects.for_user(user)
        .still_open()
        .filter(lot__storage_unit__location=location)
        .select_related("lot__product")
    )
    return {str(v.pk): v for v in vials}


def open_vials(user, location):
    return [
        v
        for v in OpenedVial.objects.for_user(user)
        .still_open()
        .filter(lot__storage_unit__location=location, beyond_use_at__gt=timezone.now())
        .select_related("lot__product")
        .order_by("beyond_use_at", "pk")
        if v.volume_left_ml > 0
    ]


class RecordForm(forms.Form):
    screening_confirmed = forms.BooleanField(
        label="Screening confirmed with the patient at this visit", required=False
    )
    consent_checked = forms.BooleanField(label="Signed consent for this treatment checked", required=False)
    combined_procedure = forms.ChoiceField(
        label="Combined procedure", choices=CombinedProcedure.choices, required=False
    )
    combined_settings = forms.CharField(
        label="Procedure settings",
        required=False,
        max_length=300,
        help_text="Microneedling depth; laser type and settings; RF settings.",
    )
    anaesthesia = forms.ChoiceField(choices=Anaesthesia.choices, initial=Anaesthesia.NONE)
    post_care = forms.CharField(
        label="Post-care given", required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    adverse_kind = forms.CharField(label="Adverse event: type", required=False, max_length=120)
    adverse_severity = forms.ChoiceField(
        label="Adverse event: severity", choices=[("", "—"), *Severity.choices], required=False
    )
    adverse_action = forms.CharField(label="Adverse event: action taken", required=False, max_length=1000)

    def adverse_events(self) -> list[AdverseEventInput]:
        d = self.cleaned_data
        if not (d.get("adverse_kind") or d.get("adverse_severity") or d.get("adverse_action")):
            return []
        return [AdverseEventInput(d["adverse_kind"], d["adverse_severity"], d["adverse_action"])]


class LineForm(forms.Form):
    scan = forms.CharField(
        label="Scan the box (GS1)",
        required=False,
        max_length=200,
        help_text="Scanning selects the lot.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "data-lot-scan": "1"}),
    )
    lot = forms.ChoiceField(label="Lot (first expiry first)", required=False)
    source = forms.ChoiceField(label="Taken from", choices=LineSource.choices, initial=LineSource.SEALED)
    vials = forms.IntegerField(label="Sealed vials", required=False)
    opened_vial = forms.ChoiceField(label="Opened vial", required=False)
    volume_ml = forms.DecimalField(label="Volume (mL)", required=False, max_digits=6, decimal_places=2)
    route = forms.ChoiceField(choices=[("", "—"), *Route.choices], required=False)
    areas = forms.MultipleChoiceField(
        choices=Area.choices, required=False, widget=forms.CheckboxSelectMultiple
    )
    needle_gauge = forms.IntegerField(label="Needle gauge (G)", required=False)
    depth_mm = forms.DecimalField(label="Depth (mm)", required=False, max_digits=4, decimal_places=2)
    volume_per_point_ml = forms.DecimalField(
        label="Volume per point (mL)", required=False, max_digits=5, decimal_places=3
    )
    points = forms.IntegerField(label="Number of points", required=False)
    spacing_cm = forms.DecimalField(label="Spacing (cm)", required=False, max_digits=4, decimal_places=1)

    def __init__(
        self,
        *args,
        offers: list[LotOffer],
        vials: list[OpenedVial],
        known_lots: dict[str, Lot] | None = None,
        known_vials: dict[str, OpenedVial] | None = None,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        # Offered now (what the select shows) vs accepted on saving: a lot offered when the
        # form opened may have become unusable since; the service then says why, cleanly.
        self.offers = {str(o.lot.pk): o.lot for o in offers}
        self.lots = {**(known_lots or {}), **self.offers}
        self.vials = {**(known_vials or {}), **{str(v.pk): v for v in vials}}
        self.fields["lot"].choices = (
            [("", "—")]
            + [(str(o.lot.pk), o.label) for o in offers]
            + [
                (pk, f"{lot.product} · lot {lot.lot_number} (no longer offered)")
                for pk, lot in self.lots.items()
                if pk not in self.offers
            ]
        )
        self.fields["opened_vial"].choices = [("", "—")] + [
            (
                pk,
                f"{v.lot.product} lot {v.lot.lot_number} · {v.volume_left_ml} mL left · "
                f"use by {timezone.localtime(v.beyond_use_at):%H:%M}",
            )
            for pk, v in self.vials.items()
        ]

    @property
    def is_blank(self) -> bool:
        d = getattr(self, "cleaned_data", {})
        return not (d.get("lot") or d.get("scan") or d.get("opened_vial"))

    def clean(self):
        d = super().clean()
        scan = (d.get("scan") or "").strip()
        if scan:
            lot = self._lot_from_scan(scan)
            if lot is not None:
                d["lot"] = str(lot.pk)
        vial = self.vials.get(d.get("opened_vial") or "")
        if vial is not None and not d.get("lot"):
            d["lot"] = str(vial.lot_id) if str(vial.lot_id) in self.lots else ""
        if not self.is_blank and not d.get("lot"):
            self.add_error("lot", "Choose the lot (or scan the box).")
        return d

    def _lot_from_scan(self, scan: str) -> Lot | None:
        try:
            data = parse_gs1(scan) if looks_like_gs1(scan) else None
        except GS1Error as exc:
            self.add_error("scan", str(exc))
            return None
        number = data.lot if data else scan
        for lot in self.offers.values():
            if lot.lot_number == number and (not data or not data.gtin or lot.gtin in ("", data.gtin)):
                return lot
        self.add_error(
            "scan", f"Lot {number} is not offered here: not in stock, expired, quarantined or not cleared."
        )
        return None

    def to_input(self) -> LineInput:
        d = self.cleaned_data
        return LineInput(
            lot=self.lots[d["lot"]],
            source=d["source"],
            route=d.get("route") or "",
            areas=list(d.get("areas") or []),
            vials=d.get("vials"),
            volume_ml=d.get("volume_ml"),
            opened_vial=self.vials.get(d.get("opened_vial") or ""),
            needle_gauge=d.get("needle_gauge"),
            depth_mm=d.get("depth_mm"),
            volume_per_point_ml=d.get("volume_per_point_ml"),
            points=d.get("points"),
            spacing_cm=d.get("spacing_cm"),
        )


class AddendumForm(forms.Form):
    reason = forms.CharField(label="Reason for the addendum", max_length=300)
    text = forms.CharField(label="Correction or addition", widget=forms.Textarea(attrs={"rows": 3}))

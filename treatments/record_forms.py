"""Forms of the treatment record: the checks and procedure, and a formset of product lines.

A line is chosen product first, then what it is taken from: an opened vial of that product
still inside its beyond-use time (offered first), or one of its lots in first-expiry order.
A scan names exactly one lot or says why it cannot be used. The forms only shape the input;
every rule (consent, screening, clearance, route, amounts) is checked by
``treatments.services.treatment_record_check`` as the practitioner goes, and again by
``treatment_record_save``, which refuses what is unsafe whether or not JavaScript ran.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django import forms
from django.utils import timezone

from products import compliance
from products.models import Lot, OpenedVial, Product
from products.scanning import lot_for_scan
from treatments.injection_map import MapPointsField
from treatments.models import (
    Anaesthesia,
    Area,
    CombinedProcedure,
    LineSource,
    ProtocolTemplate,
    Route,
    Session,
    Severity,
)
from treatments.services import AdverseEventInput, LineInput

# A record rarely has more than two or three products; this caps what a crafted post can ask.
MAX_LINES = 8


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


def lot_offers(user, location, *, also: list[Lot] | None = None) -> tuple[list[LotOffer], list[LotOffer]]:
    """(offered, not offered): available lots at the location, first expiry first, split by
    clearance; the offered ones are exactly ``Lot.objects.usable()`` there. The documents of
    ``also`` (the opened vials' lots) are read in the same single query."""
    lots = list(
        Lot.objects.for_user(user)
        .available()
        .fefo()
        .filter(storage_unit__location=location)
        .select_related("product", "storage_unit")
    )
    compliance.prefetch_clearance(lots + list(also or []))
    offered, refused = [], []
    for lot in lots:
        problems = compliance.lot_clearance_problems(lot)
        (refused if problems else offered).append(LotOffer(lot, problems))
    return offered, refused


def open_vials(user, location) -> list[OpenedVial]:
    """Opened vials at the location that may still be drawn from: inside their beyond-use
    time, with volume left, from a lot not held back or out of date (clearance is asked of
    their lots by ``ChartChoices``)."""
    today = timezone.localdate()
    return [
        v
        for v in OpenedVial.objects.for_user(user)
        .in_use()
        .filter(
            lot__storage_unit__location=location,
            lot__is_quarantined=False,
            lot__is_recalled=False,
            lot__expiry_date__gte=today,
        )
        .select_related("lot__product", "lot__storage_unit")
        .order_by("beyond_use_at", "pk")
        if v.volume_left_ml > 0
    ]


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


def time_left(until: dt.datetime) -> str:
    minutes = max(int((until - timezone.now()).total_seconds() // 60), 0)
    hours, minutes = divmod(minutes, 60)
    if hours >= 48:
        return f"{hours // 24} days left"
    return f"{hours} h {minutes:02d} min left" if hours else f"{minutes} min left"


@dataclass
class TakeOption:
    """One thing a line can be taken from: an opened vial (``vial``) or a lot's sealed stock."""

    lot: Lot
    vial: OpenedVial | None = None

    @property
    def value(self) -> str:
        return f"vial:{self.vial.pk}" if self.vial is not None else f"lot:{self.lot.pk}"

    @property
    def product(self) -> Product:
        return self.lot.product

    @property
    def time_left(self) -> str:
        return time_left(self.vial.beyond_use_at) if self.vial is not None else ""

    @property
    def use_by(self) -> dt.datetime | None:
        return timezone.localtime(self.vial.beyond_use_at) if self.vial is not None else None


@dataclass
class ChartChoices:
    """What the record form offers at a location, read once per page: products, then per
    product its opened vials (soonest beyond-use first) and its lots (first expiry first)."""

    offers: list[LotOffer]
    not_offered: list[LotOffer]
    vials: list[OpenedVial]
    options: list[TakeOption] = field(init=False)
    products: list[Product] = field(init=False)

    def __post_init__(self) -> None:
        by_product: dict[int, list[TakeOption]] = {}
        products: dict[int, Product] = {}
        for vial in self.vials:
            products.setdefault(vial.lot.product_id, vial.lot.product)
            by_product.setdefault(vial.lot.product_id, []).append(TakeOption(vial.lot, vial))
        for offer in self.offers:
            products.setdefault(offer.lot.product_id, offer.lot.product)
            by_product.setdefault(offer.lot.product_id, []).append(TakeOption(offer.lot))
        self.products = sorted(products.values(), key=lambda p: (p.name, p.pk))
        self.options = [o for p in self.products for o in by_product[p.pk]]

    @classmethod
    def at(cls, user, location) -> ChartChoices:
        vials = open_vials(user, location)
        offers, not_offered = lot_offers(user, location, also=[v.lot for v in vials])
        cleared = [v for v in vials if not compliance.lot_clearance_problems(v.lot)]
        return cls(offers, not_offered, cleared)

    def first_for(self, route: str = "") -> TakeOption | None:
        """What a new line starts from, among the products the protocol's route is allowed for:
        the opened vial that runs out of time first, else the lot that expires first."""
        allowed = [
            o for o in self.options if not route or not compliance.product_route_problems(o.product, route)
        ]
        vials = [o for o in allowed if o.vial is not None]
        if vials:
            return min(vials, key=lambda o: (o.vial.beyond_use_at, o.vial.pk))  # type: ignore[union-attr]
        return min(allowed, key=lambda o: (o.lot.expiry_date, o.lot.received_on, o.lot.pk), default=None)


def protocol_for(session: Session) -> ProtocolTemplate | None:
    """The protocol a session's record starts from: its plan's, else the active protocol of its
    treatment type."""
    if session.plan_id is not None:
        return session.plan.template
    return (
        ProtocolTemplate.objects.filter(treatment_type=session.treatment_type, is_active=True)
        .order_by("pk")
        .first()
    )


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


class OfferedChoiceField(forms.ChoiceField):
    """A choice shown from what is offered now that also accepts ``also``: values offered when
    the page opened, so the service, not a bare "invalid choice", says why they are refused."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.also: set[str] = set()

    def valid_value(self, value) -> bool:
        return str(value) in self.also or super().valid_value(value)


def _number(attrs: dict | None = None, step: str = "any") -> forms.NumberInput:
    return forms.NumberInput(attrs={"inputmode": "decimal", "step": step, **(attrs or {})})


class LineForm(forms.Form):
    product = OfferedChoiceField(label="Product", required=False)
    scan = forms.CharField(
        label="Scan the box (GS1)",
        required=False,
        max_length=200,
        help_text="Scanning selects that lot, or says why it cannot be used.",
        widget=forms.TextInput(
            attrs={
                "autocomplete": "off",
                "autocapitalize": "off",
                "spellcheck": "false",
                "data-lot-scan": "1",
            }
        ),
    )
    take = forms.ChoiceField(label="Take from", required=False, widget=forms.RadioSelect)
    source = forms.ChoiceField(
        label="From the lot",
        choices=[
            (LineSource.SEALED, "Whole sealed vial(s)"),
            (LineSource.OPEN_NEW, "Open a new vial and draw part of it"),
        ],
        initial=LineSource.SEALED,
        required=False,
        widget=forms.RadioSelect,
    )
    vials = forms.IntegerField(label="Sealed vials", required=False, widget=_number(step="1"))
    volume_ml = forms.DecimalField(
        label="Volume drawn (mL)", required=False, max_digits=6, decimal_places=2, widget=_number()
    )
    route = forms.ChoiceField(choices=[("", "—"), *Route.choices], required=False)
    areas = forms.MultipleChoiceField(
        choices=Area.choices, required=False, widget=forms.CheckboxSelectMultiple
    )
    needle_gauge = forms.IntegerField(label="Needle gauge (G)", required=False, widget=_number(step="1"))
    depth_mm = forms.DecimalField(
        label="Depth (mm)", required=False, max_digits=4, decimal_places=2, widget=_number()
    )
    volume_per_point_ml = forms.DecimalField(
        label="Volume per point (mL)", required=False, max_digits=5, decimal_places=3, widget=_number()
    )
    points = forms.IntegerField(label="Number of points", required=False, widget=_number(step="1"))
    spacing_cm = forms.DecimalField(
        label="Spacing (cm)", required=False, max_digits=4, decimal_places=1, widget=_number()
    )
    map_points = MapPointsField()

    def __init__(
        self,
        *args,
        choices: ChartChoices,
        user=None,
        location=None,
        defaults: dict | None = None,
        known_lots: dict[str, Lot] | None = None,
        known_vials: dict[str, OpenedVial] | None = None,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self.choices = choices
        self.user, self.location = user, location
        # Offered now (what the page shows) vs accepted on saving: a lot offered when the form
        # opened may have become unusable since; the service then says why, and the page
        # offers only what is usable now, so a refused lot is never chosen again.
        self.lots = {**(known_lots or {}), **{str(o.lot.pk): o.lot for o in choices.offers}}
        self.vials = {**(known_vials or {}), **{str(v.pk): v for v in choices.vials}}
        for name, value in (defaults or {}).items():
            if name in self.fields:
                self.fields[name].initial = value
        self.fields["product"].choices = [("", "Choose the product…")] + [
            (str(p.pk), p.name) for p in choices.products
        ]
        self.products = {str(lot.product_id): lot.product for lot in self.lots.values()}
        self.products |= {str(v.lot.product_id): v.lot.product for v in self.vials.values()}
        self.products |= {str(p.pk): p for p in choices.products}
        self.fields["product"].also = set(self.products)
        # Every value the post may carry (the template draws only what is offered now).
        values = [f"lot:{pk}" for pk in self.lots] + [f"vial:{pk}" for pk in self.vials]
        self.fields["take"].choices = [(v, v) for v in values]
        self.selected = ""

    # --- reading -----------------------------------------------------------------------------

    @property
    def is_blank(self) -> bool:
        d = getattr(self, "cleaned_data", {})
        return not (d.get("lot") or d.get("scan") or d.get("take"))

    def _chosen_product(self, d) -> Product | None:
        return self.products.get(d.get("product") or "")

    def clean(self):
        d = super().clean()
        product = self._chosen_product(d)
        scan = (d.get("scan") or "").strip()
        if scan and self.location is not None:
            lots = Lot.objects.for_user(self.user) if self.user is not None else Lot.objects.all()
            result = lot_for_scan(scan, lots=lots, location=self.location, product=product)
            if result.ok:
                assert result.lot is not None
                self.lots.setdefault(str(result.lot.pk), result.lot)
                d["take"] = scanned_take(result.lot, self.choices.vials)
                d["product"] = str(result.lot.product_id)
                # Shown again (after Check, or a refusal elsewhere) as chosen, with the scan
                # done: a lot picked by hand afterwards is then not overridden by an old scan.
                self.data = self.data.copy()
                self.data[self.add_prefix("take")] = d["take"]
                self.data[self.add_prefix("product")] = d["product"]
                self.data[self.add_prefix("scan")] = ""
            else:
                # Nothing stays selected: a refused scan must not leave another lot chosen.
                self.add_error("scan", result.message)
                d["take"] = ""
                return d
        take = d.get("take") or ""
        kind, _, pk = take.partition(":")
        lot, vial = None, None
        if kind == "vial":
            vial = self.vials.get(pk)
            lot = vial.lot if vial is not None else None
            d["source"] = LineSource.OPENED
        elif kind == "lot":
            lot = self.lots.get(pk)
            if d.get("source") not in (LineSource.SEALED, LineSource.OPEN_NEW):
                d["source"] = LineSource.SEALED
        d["lot"], d["opened_vial"] = lot, vial
        if lot is not None and product is not None and lot.product_id != product.pk and not scan:
            self.add_error(
                "take", f"Lot {lot.lot_number} is {lot.product}, not {product}: choose a lot of {product}."
            )
        if lot is not None:
            self.selected = take
        elif take:
            self.add_error(
                "take", "Choose what this line is taken from: an opened vial or a lot, or scan the box."
            )
        return d

    def to_input(self) -> LineInput:
        d = self.cleaned_data
        return LineInput(
            lot=d["lot"],
            source=d["source"],
            route=d.get("route") or "",
            areas=list(d.get("areas") or []),
            vials=d.get("vials"),
            volume_ml=d.get("volume_ml"),
            opened_vial=d.get("opened_vial"),
            needle_gauge=d.get("needle_gauge"),
            depth_mm=d.get("depth_mm"),
            volume_per_point_ml=d.get("volume_per_point_ml"),
            points=d.get("points"),
            spacing_cm=d.get("spacing_cm"),
            map_points=list(d.get("map_points") or []),
        )

    # --- showing -----------------------------------------------------------------------------

    @property
    def current_take(self) -> str:
        """The option to show as chosen: what was validly chosen (a refused scan or a lot no
        longer offered shows nothing chosen), else the initial choice."""
        if self.is_bound:
            if not hasattr(self, "cleaned_data"):
                self.full_clean()
            offered = {o.value for o in self.choices.options}
            return self.selected if self.selected in offered else ""
        return str(self.initial.get("take") or self["take"].initial or "")

    def take_options(self) -> list[dict]:
        """The options with their state for the template (chosen or not)."""
        chosen = self.current_take
        return [
            {"option": o, "id": f"id_{self.add_prefix('take')}_{k}", "checked": o.value == chosen}
            for k, o in enumerate(self.choices.options)
        ]


def scanned_take(lot: Lot, vials: list[OpenedVial]) -> str:
    """What a scanned box selects: an opened vial of that lot still in use before a new one."""
    vial = next((v for v in vials if v.lot_id == lot.pk), None)
    return f"vial:{vial.pk}" if vial is not None else f"lot:{lot.pk}"


class BaseLineFormSet(forms.BaseFormSet):
    def non_blank(self) -> list[LineForm]:
        return [f for f in self.forms if not f.is_blank]


LineFormSet = forms.formset_factory(
    LineForm, formset=BaseLineFormSet, extra=0, max_num=MAX_LINES, absolute_max=MAX_LINES
)


def first_line_initial(choices: ChartChoices, defaults: dict) -> dict:
    """The first line of a new record: the protocol's technique, and what to take it from."""
    initial = {"source": LineSource.SEALED, **defaults}
    option = choices.first_for(defaults.get("route", ""))
    if option is not None:
        initial["product"] = str(option.product.pk)
        initial["take"] = option.value
        if option.vial is not None:
            initial.pop("vials", None)
    return initial


class AddendumForm(forms.Form):
    reason = forms.CharField(label="Reason for the addendum", max_length=300)
    text = forms.CharField(label="Correction or addition", widget=forms.Textarea(attrs={"rows": 3}))

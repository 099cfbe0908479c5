"""Forms of the reorder-levels page (kept apart from products.forms)."""

from __future__ import annotations

from django import forms

from products.services.reorder import MAX_VIALS


def _vials(label: str, *, minimum: int, help_text: str, too_small: str) -> forms.IntegerField:
    return forms.IntegerField(
        label=label,
        min_value=minimum,
        max_value=MAX_VIALS,
        help_text=help_text,
        error_messages={
            "required": f"Enter the {label.lower()} in vials.",
            "invalid": f"The {label.lower()} is a whole number of vials.",
            "min_value": too_small,
            "max_value": f"At most {MAX_VIALS} vials: check the number.",
        },
    )


class ReorderLevelEditForm(forms.Form):
    """The two numbers of a level (its product and location are fixed)."""

    minimum = _vials(
        "Minimum",
        minimum=0,
        help_text="Usable sealed vials at this location below which stock is low (0 turns the alert off).",
        too_small="The minimum cannot be negative: enter 0 or more vials (0 turns the alert off).",
    )
    reorder_quantity = _vials(
        "Reorder quantity",
        minimum=1,
        help_text="The smallest order to suggest, e.g. a box.",
        too_small="The reorder quantity must be at least 1 vial.",
    )


class ReorderLevelForm(ReorderLevelEditForm):
    """A level for a product at one of the manager's locations (an existing one is replaced)."""

    product = forms.ModelChoiceField(
        queryset=None, error_messages={"invalid_choice": "Choose a product from the catalogue."}
    )
    location = forms.ModelChoiceField(
        queryset=None, error_messages={"invalid_choice": "Choose one of your locations."}
    )
    field_order = ["product", "location", "minimum", "reorder_quantity"]

    def __init__(self, *args, products, locations, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["product"].queryset = products
        self.fields["location"].queryset = locations

"""Forms of the networked-logger pages (kept apart from products.forms)."""

from __future__ import annotations

from django import forms

from products.models import LoggerFeedToken


class FeedTokenForm(forms.Form):
    name = forms.CharField(
        label="Logger or gateway",
        max_length=LoggerFeedToken._meta.get_field("name").max_length,
        help_text="Which device will use the token, e.g. “Wi-Fi logger, serial 40213”.",
    )

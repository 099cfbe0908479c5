"""Forms of the photo pages. The file input itself is rendered by hand (several files, camera)."""

from __future__ import annotations

from django import forms

from treatments.photos.models import PhotoTag, PhotoView


class UploadDefaultsForm(forms.Form):
    """What a batch of photos shows, unless a file's own row (added by photos.js) says otherwise."""

    tag = forms.ChoiceField(
        label="Before, after or follow-up", choices=PhotoTag.choices, initial=PhotoTag.BEFORE
    )
    view = forms.ChoiceField(label="View", choices=PhotoView.choices, initial=PhotoView.FRONT)
    area = forms.CharField(
        label="Area", max_length=80, required=False, help_text="Optional, e.g. “left cheek”, “temples”."
    )


class RetireForm(forms.Form):
    reason = forms.CharField(
        label="Why retire this photo?",
        max_length=200,
        help_text="e.g. wrong patient, blurred, duplicate. The photo disappears from every page; "
        "the audit trail keeps it.",
    )

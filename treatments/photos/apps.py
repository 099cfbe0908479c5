from __future__ import annotations

from django.apps import AppConfig


class PhotosConfig(AppConfig):
    """Before/after photos: a sub-app of treatments with its own models and migrations."""

    name = "treatments.photos"
    label = "photos"
    verbose_name = "Photos"

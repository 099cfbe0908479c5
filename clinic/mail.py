"""Email content in the clinic's name: one text and one HTML template per message kind.

``render_message("appointment_reminder", context)`` renders
``email/appointment_reminder_subject.txt``, ``.txt`` and ``.html``; the HTML extends
``email/base.html``. Patient messages carry no clinical detail: time, place, contact.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.template.loader import render_to_string


@dataclass(frozen=True)
class RenderedMessage:
    subject: str
    text: str
    html: str


def render_message(name: str, context: dict) -> RenderedMessage:
    ctx = {"clinic_name": settings.CLINIC_NAME, **context}
    subject = " ".join(render_to_string(f"email/{name}_subject.txt", ctx).split())
    return RenderedMessage(
        subject=subject[:200],
        text=render_to_string(f"email/{name}.txt", ctx).strip() + "\n",
        html=render_to_string(f"email/{name}.html", ctx),
    )

"""Delivery channels for outbox rows: email, SMS (pluggable) and in-site alerts."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.utils.module_loading import import_string

logger = logging.getLogger("clinic.sms")


class LoggingSmsBackend:
    """Default SMS backend: writes the message to the log. Swap via SMS_BACKEND."""

    def send(self, *, to: str, body: str) -> None:
        logger.info("SMS to %s: %s", to, body)


def sms_backend():
    path = getattr(settings, "SMS_BACKEND", "clinic.channels.LoggingSmsBackend")
    return import_string(path)()


def deliver(notification) -> None:
    """Send one notification on its channel; raises on a (possibly transient) failure."""
    channel = notification.channel
    if channel == "email":
        message = EmailMultiAlternatives(
            subject=notification.subject,
            body=notification.body,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[notification.to_address],
        )
        if notification.html_body:
            message.attach_alternative(notification.html_body, "text/html")
        message.send(fail_silently=False)
    elif channel == "sms":
        sms_backend().send(to=notification.to_address, body=notification.body)
    elif channel == "in_app":
        # Stored rows are the delivery: the recipient sees them under "Alerts".
        return
    else:
        raise ValueError(f"Unknown channel {channel!r}")

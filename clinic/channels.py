"""Delivery channels for outbox rows: email, SMS (pluggable) and in-site alerts.

Delivery is at least once: a worker that dies mid-send leaves its claim, the outbox releases
it after ``OUTBOX_STALE_CLAIM_MINUTES`` and another worker sends the row again. So every copy
of a row carries the same identity, ``delivery_token(notification)``: the email's Message-ID
(mail systems keep one message per Message-ID) and the SMS provider's idempotency key (the
provider sends one text per key). A second copy is then the same message, not a new one.
"""

from __future__ import annotations

import inspect
import logging
import re
from email.utils import parseaddr
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.utils.crypto import salted_hmac
from django.utils.module_loading import import_string

from clinic.phones import phone_is_valid

logger = logging.getLogger("clinic.sms")

# Separates this HMAC from every other use of SECRET_KEY (Django's own salts are dotted paths).
DELIVERY_SALT = "clinic.channels.delivery_token"
# What may stand after the "@" of a Message-ID we write (a dot-atom of a host name).
DOMAIN = re.compile(r"[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?")


class UndeliverableError(Exception):
    """This row can never be delivered as written (an SMS to a number that is not a valid
    E.164 number): the outbox marks it failed with this message at once, without retrying."""


class LoggingSmsBackend:
    """Default SMS backend: writes the message to the log. Swap via SMS_BACKEND.

    A backend is a class whose ``send(*, to, body, idempotency_key)`` sends one text or
    raises. ``idempotency_key`` is the same for every attempt at one outbox row: pass it to
    the provider's idempotency or client-reference field so a retry after a worker died
    mid-request does not text the patient twice.
    """

    def send(self, *, to: str, body: str, idempotency_key: str) -> None:
        logger.info("SMS to %s [%s]: %s", to, idempotency_key, body)


def sms_backend():
    path = getattr(settings, "SMS_BACKEND", "clinic.channels.LoggingSmsBackend")
    return import_string(path)()


def sms_backend_takes_key(backend_class) -> bool:
    """Whether a backend class's ``send`` accepts ``idempotency_key`` (checked at start-up)."""
    send = getattr(backend_class, "send", None)
    if send is None:
        return False
    try:
        parameters = inspect.signature(send).parameters
    except (TypeError, ValueError):
        return False
    return "idempotency_key" in parameters or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()
    )


def delivery_token(notification) -> str:
    """The row's identity on the wire: stable across its retries, unique across rows and installs.

    ``notification-<pk>.<hmac>``: the HMAC (keyed by SECRET_KEY) of the row's id, dedupe key
    and creation time, so two installs, or one database re-created with the same ids, never
    share a token, and nothing about the patient or the message can be read from it.
    """
    if notification.pk is None:
        raise ValueError("Only a saved notification has a delivery token.")
    created = notification.created_at.isoformat(timespec="microseconds")
    value = f"{notification.pk}:{notification.dedupe_key}:{created}"
    digest = salted_hmac(DELIVERY_SALT, value, algorithm="sha256").hexdigest()[:24]
    return f"notification-{notification.pk}.{digest}"


def mail_domain() -> str:
    """The domain of our Message-IDs: the sender address's, else SITE_URL's host."""
    _, address = parseaddr(settings.DEFAULT_FROM_EMAIL)
    local, at, domain = address.rpartition("@")
    domain = domain.strip().lower()
    if local and at and DOMAIN.fullmatch(domain):
        return domain
    return urlsplit(settings.SITE_URL).hostname or "localhost"


def message_id(notification) -> str:
    return f"<{delivery_token(notification)}@{mail_domain()}>"


# Links built at send time, not when the row is written (a sweep over thousands of rows signs
# nothing): a body holding the placeholder gets the URL from the dotted callable(notification).
SEND_TIME_LINKS = {
    "RESPONDURLPLACEHOLDER": "treatments.links.respond_url",
    "INTAKEURLPLACEHOLDER": "treatments.links.intake_url",
    "BOOKURLPLACEHOLDER": "treatments.links.book_url",
    "PATIENTLINKPLACEHOLDER": "treatments.links.maintenance_url",
}


def _with_links(text: str, notification) -> str:
    for placeholder, path in SEND_TIME_LINKS.items():
        if placeholder in text:
            from django.utils.module_loading import import_string

            text = text.replace(placeholder, import_string(path)(notification))
    return text


def email_message(notification) -> EmailMultiAlternatives:
    """The email for one row, with the headers that make a retry the same message."""
    message = EmailMultiAlternatives(
        subject=notification.subject,
        body=_with_links(notification.body, notification),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[notification.to_address],
        headers={
            # Fixed per row (Django would make a new one per attempt): a copy sent again after a
            # worker died mid-send is recognised as the same message and shown once.
            "Message-ID": message_id(notification),
            # RFC 3834: written by a program, so vacation and out-of-office responders stay
            # quiet (the sender address is not read by a person). Exchange ignores it and
            # reads its own header.
            "Auto-Submitted": "auto-generated",
            "X-Auto-Response-Suppress": "All",
        },
    )
    if notification.html_body:
        message.attach_alternative(_with_links(notification.html_body, notification), "text/html")
    return message


def deliver(notification) -> None:
    """Send one notification on its channel; raises on a (possibly transient) failure, and
    ``UndeliverableError`` when no retry can help."""
    channel = notification.channel
    if channel == "email":
        email_message(notification).send(fail_silently=False)
    elif channel == "sms":
        # Never hand the provider a raw string: a number kept as typed by the E.164 migration
        # ("call me maybe") would be sent somewhere, or billed and lost.
        if not phone_is_valid(notification.to_address):
            raise UndeliverableError(
                f"Not sent: {notification.to_address!r} is not a valid phone number. Correct it "
                "on the patient's page (Edit details); later messages go to the new number."
            )
        sms_backend().send(
            to=notification.to_address,
            body=_with_links(notification.body, notification),
            idempotency_key=delivery_token(notification),
        )
    elif channel == "in_app":
        # Stored rows are the delivery: the recipient sees them under "Alerts".
        return
    else:
        raise ValueError(f"Unknown channel {channel!r}")

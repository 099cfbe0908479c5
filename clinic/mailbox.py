"""A mail backend that keeps every email in the database (``SentMail``) instead of sending it.

For the demo (``make run`` sets ``EMAIL_BACKEND=clinic.mailbox.EmailBackend``): there is no
mail server on the machine, so without it every message in the outbox would fail. Managers
read what was "sent" under Sent mail, and can follow its links. Production keeps SMTP.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.conf import settings
from django.core.mail import EmailMessage, EmailMultiAlternatives
from django.core.mail.backends.base import BaseEmailBackend
from django.utils import timezone

BACKEND = "clinic.mailbox.EmailBackend"


def mailbox_active() -> bool:
    """Whether mail is being kept in the site (the Sent mail pages exist only then)."""
    return settings.EMAIL_BACKEND == BACKEND


def _html_of(message: EmailMessage) -> str:
    if isinstance(message, EmailMultiAlternatives):
        for alternative in message.alternatives:
            content, mimetype = alternative[0], alternative[1]
            if mimetype == "text/html":
                if isinstance(content, str):
                    return content
                if isinstance(content, bytes):
                    return content.decode()
                return str(content)
    if message.content_subtype == "html":
        return str(message.body)
    return ""


class EmailBackend(BaseEmailBackend):
    """Stores each message as one ``SentMail`` row; never fails for want of a server."""

    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        from clinic.models import SentMail

        rows = []
        for message in email_messages:
            recipients = message.recipients()
            if not recipients:
                continue
            built = message.message()
            text = "" if message.content_subtype == "html" else str(message.body)
            rows.append(
                SentMail(
                    message_id=str(built["Message-ID"] or ""),
                    from_email=str(built["From"] or message.from_email),
                    to="\n".join(recipients),
                    subject=str(message.subject),
                    body=text,
                    html_body=_html_of(message),
                    headers={key: str(value) for key, value in built.items()},
                    sent_at=timezone.now(),
                )
            )
        SentMail.objects.bulk_create(rows)
        return len(rows)

"""Networked loggers' tokens: made (shown once), revoked, and checked on every pushed batch.

A token is 256 random bits; only its SHA-256 is stored, so a copy of the database lets nobody
push readings. Looking a token up by its digest needs no constant-time comparison: an attacker
who could time the index lookup would learn digests, not tokens.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from clinic.audit import AuditAction, audit_record, snapshot
from products.models import LoggerFeedToken, StorageUnit

if TYPE_CHECKING:
    from django.contrib.auth.models import User

PREFIX_LENGTH = 8  # enough to tell a unit's tokens apart; far too little to guess the rest
# A token longer than this is no token of ours: refused before hashing anything.
MAX_TOKEN_LENGTH = 200
# last_used_at is written at most this often, so a logger pushing every few seconds does not
# turn every batch into a write on the token row.
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)


def token_digest(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


@transaction.atomic
def feed_token_create(*, unit: StorageUnit, name: str, actor: User) -> tuple[LoggerFeedToken, str]:
    """A new token for ``unit``'s networked logger. Returns (row, plaintext); the plaintext is
    not stored and cannot be shown again."""
    name = (name or "").strip()
    if not name:
        raise ValidationError("Name the logger or gateway that will use the token.")
    plaintext = secrets.token_urlsafe(32)
    token = LoggerFeedToken(
        storage_unit=unit,
        name=name,
        prefix=plaintext[:PREFIX_LENGTH],
        digest=token_digest(plaintext),
        created_by=actor,
    )
    token.full_clean()
    token.save()
    audit_record(
        actor=actor,
        action=AuditAction.FEED_TOKEN_CREATE,
        obj=token,
        location=unit.location,
        after=snapshot(token, ("storage_unit", "name", "prefix")),
    )
    return token, plaintext


@transaction.atomic
def feed_token_revoke(*, token: LoggerFeedToken, actor: User | None) -> LoggerFeedToken:
    """Stop a token working. Revoking a revoked token changes nothing and writes no audit row."""
    now = timezone.now()
    updated = LoggerFeedToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
        revoked_at=now, revoked_by=actor if getattr(actor, "is_authenticated", False) else None
    )
    token.refresh_from_db()
    if updated:
        audit_record(
            actor=actor,
            action=AuditAction.FEED_TOKEN_REVOKE,
            obj=token,
            location=token.storage_unit.location,
            before={"revoked_at": None},
            after=snapshot(token, ("revoked_at",)),
        )
    return token


def feed_token_authenticate(*, unit: StorageUnit | int, raw: str) -> LoggerFeedToken | None:
    """The live token ``raw`` of this unit (a row or its pk), else None: unknown, revoked, or
    another unit's token all answer alike. Notes when it was last used (at most once a minute)."""
    if not raw or len(raw) > MAX_TOKEN_LENGTH:
        return None
    unit_id = unit.pk if isinstance(unit, StorageUnit) else unit
    token = (
        LoggerFeedToken.objects.select_related("storage_unit__location")
        .filter(digest=token_digest(raw), storage_unit_id=unit_id, revoked_at__isnull=True)
        .first()
    )
    if token is None:
        return None
    now = timezone.now()
    if token.last_used_at is None or token.last_used_at <= now - LAST_USED_RESOLUTION:
        # A conditional update, not save(): two batches at once never overwrite a revocation.
        LoggerFeedToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token

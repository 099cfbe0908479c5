"""Compliance services: regulatory documents (upload, renew), classification and approval.

Documents are checked by content (PDF, JPEG or PNG, at most 20 MB), cleaned (images
re-encoded without metadata, PDFs parsed and refused if active: ``clinic.files``) and stored
privately under a server-chosen name with the SHA-256 of what is stored. A renewal supersedes
the document it replaces, which stays on file. Changing a product's classification revokes its
approval in the same transaction: an approval always refers to the classification the manager saw.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from clinic.audit import AuditAction, audit_record, snapshot
from clinic.files import StoredFile, delete_private, read_checked, store_private
from products.compliance import current_docs, product_document_problems
from products.models import Classification, DocumentType, Jurisdiction, Lot, Product, RegulatoryDocument
from products.services.stock import lot_receive

if TYPE_CHECKING:
    from django.contrib.auth.models import User

DOCUMENT_MAX_BYTES = 20 * 1024 * 1024
DOCUMENT_KINDS = {"pdf", "jpeg", "png"}
DOCUMENT_FIELDS = (
    "doc_type",
    "product",
    "lot",
    "issuer",
    "reference",
    "issued_on",
    "expires_on",
    "file_name",
    "sha256",
    "superseded_by",
)
CLASSIFICATION_FIELDS = (
    "classification",
    "jurisdictions",
    "intended_topical",
    "intended_intradermal",
    "intended_scalp",
)
APPROVAL_FIELDS = ("approved_at", "approved_by")
ALREADY_RENEWED = "This document has already been renewed; renew the current one."


def _actor(actor: User | None):
    return actor if getattr(actor, "is_authenticated", False) else None


def _location_of(doc: RegulatoryDocument):
    return doc.lot.storage_unit.location if doc.lot is not None else None


def document_upload(
    *,
    actor: User | None,
    doc_type: str,
    upload: IO[bytes],
    issuer: str,
    reference: str,
    issued_on: dt.date,
    expires_on: dt.date | None = None,
    product: Product | None = None,
    lot: Lot | None = None,
    supersedes: RegulatoryDocument | None = None,
) -> RegulatoryDocument:
    """File a regulatory document for a product or a lot; with ``supersedes``, a renewal.

    The file is checked and cleaned (images re-encoded, PDFs parsed: ``clinic.files``) before
    any transaction begins, so a refused file writes nothing and the decoding holds no lock.
    """
    if doc_type not in DocumentType.values:
        raise ValidationError("Choose the type of document.")
    if supersedes is not None:
        # Read without a lock for the checks below; locked and checked again in _file_document.
        supersedes = RegulatoryDocument.objects.select_related("lot__storage_unit__location").get(
            pk=supersedes.pk
        )
        if supersedes.superseded_by_id:
            raise ValidationError(ALREADY_RENEWED)
        product, lot = supersedes.product, supersedes.lot
    if doc_type == DocumentType.COA and lot is None:
        raise ValidationError("A certificate of analysis belongs to a lot: upload it from the lot's page.")
    if (product is None) == (lot is None):
        raise ValidationError("A document belongs to a product or to one of its lots.")
    if lot is not None and lot.origin_id:
        # Filed on the row standing for the manufacturer's lot, so every place of it has it.
        lot = Lot.objects.select_related("storage_unit__location").get(pk=lot.origin_id)
    _check_dates(issued_on, expires_on)
    stored = _store_checked(upload)
    try:
        with transaction.atomic():
            doc = _document(
                stored, upload, actor, doc_type=doc_type, product=product, lot=lot,
                issuer=issuer, reference=reference, issued_on=issued_on, expires_on=expires_on,
            )  # fmt: skip
            return _file_document(actor=actor, doc=doc, supersedes=supersedes)
    except BaseException:
        # The row did not commit, so its file must not stay behind unreferenced.
        delete_private(stored.name)
        raise


def _check_dates(issued_on: dt.date, expires_on: dt.date | None) -> None:
    if expires_on is not None and expires_on <= issued_on:
        raise ValidationError("The expiry date must be after the issue date.")
    if issued_on > timezone.localdate():
        raise ValidationError("The issue date cannot be in the future.")


def _store_checked(upload: IO[bytes]) -> StoredFile:
    """Check and clean the file by its content, then store it privately: before any
    transaction, so a refused file writes nothing and the decoding holds no lock."""
    data, kind = read_checked(upload, allowed=DOCUMENT_KINDS, max_bytes=DOCUMENT_MAX_BYTES, label="document")
    return store_private(data, folder="documents", kind=kind)


def _document(stored: StoredFile, upload: IO[bytes], actor: User | None, **fields) -> RegulatoryDocument:
    return RegulatoryDocument(
        **fields,
        file_name=stored.name,
        file_kind=stored.kind,
        file_size=stored.size,
        original_name=(getattr(upload, "name", "") or "")[:200],
        sha256=stored.sha256,
        uploaded_by=_actor(actor),
    )


@dataclass(frozen=True)
class Certificate:
    """A lot's certificate of analysis handed in with the delivery."""

    upload: IO[bytes]
    issuer: str
    reference: str
    issued_on: dt.date
    expires_on: dt.date | None = None


def lot_receive_with_certificate(*, actor: User | None, certificate: Certificate, **receipt) -> Lot:
    """Receive a delivery and file its certificate of analysis in one step: both or neither.

    The certificate goes through the same checks as the compliance upload (by content, cleaned,
    before the transaction), so a well-documented delivery is cleared for use at once.
    ``receipt``: the arguments of ``lot_receive``.
    """
    if not certificate.reference.strip():
        raise ValidationError("Give the certificate's reference number.")
    _check_dates(certificate.issued_on, certificate.expires_on)
    stored = _store_checked(certificate.upload)
    try:
        with transaction.atomic():
            lot = lot_receive(actor=actor, **receipt)
            doc = _document(
                stored,
                certificate.upload,
                actor,
                doc_type=DocumentType.COA,
                product=None,
                # Filed on the row standing for the manufacturer's lot, like any certificate.
                lot=Lot.objects.select_related("storage_unit__location").get(pk=lot.record_lot_id),
                issuer=certificate.issuer.strip() or lot.product.manufacturer,
                reference=certificate.reference.strip(),
                issued_on=certificate.issued_on,
                expires_on=certificate.expires_on,
            )
            _file_document(actor=actor, doc=doc, supersedes=None)
            return lot
    except BaseException:
        delete_private(stored.name)
        raise


def _file_document(
    *, actor: User | None, doc: RegulatoryDocument, supersedes: RegulatoryDocument | None
) -> RegulatoryDocument:
    if supersedes is not None:
        supersedes = (
            RegulatoryDocument.objects.select_for_update(of=("self",))
            .select_related("lot__storage_unit__location")
            .get(pk=supersedes.pk)
        )
        if supersedes.superseded_by_id:
            raise ValidationError(ALREADY_RENEWED)
    doc.full_clean()
    doc.save()
    location = _location_of(doc)
    audit_record(
        actor=actor,
        action=AuditAction.DOCUMENT_RENEW if supersedes else AuditAction.DOCUMENT_UPLOAD,
        obj=doc,
        location=location,
        after={**snapshot(doc, DOCUMENT_FIELDS), "supersedes": supersedes.pk if supersedes else None},
    )
    if supersedes is not None:
        before = snapshot(supersedes, ("superseded_by", "superseded_at"))
        supersedes.superseded_by = doc
        supersedes.superseded_at = timezone.now()
        supersedes.save(update_fields=["superseded_by", "superseded_at"])
        audit_record(
            actor=actor,
            action=AuditAction.DOCUMENT_SUPERSEDE,
            obj=supersedes,
            location=location,
            before=before,
            after=snapshot(supersedes, ("superseded_by", "superseded_at")),
        )
    return doc


def document_renew(*, actor: User | None, document: RegulatoryDocument, **fields) -> RegulatoryDocument:
    """Upload the renewed document; the old one is superseded and stays on file."""
    fields.setdefault("doc_type", document.doc_type)
    return document_upload(actor=actor, supersedes=document, **fields)


def _lock_product(product: Product) -> Product:
    return Product.objects.select_for_update(of=("self",)).get(pk=product.pk)


@transaction.atomic
def product_classify(
    *,
    actor: User | None,
    product: Product,
    classification: str,
    jurisdictions: list[str],
    intended_topical: bool,
    intended_intradermal: bool,
    intended_scalp: bool,
) -> Product:
    """Record what the supplier states the product is. Any change revokes the approval."""
    if classification not in Classification.values:
        raise ValidationError("Choose a classification (or Unknown).")
    unknown = [j for j in jurisdictions if j not in Jurisdiction.values]
    if unknown:
        raise ValidationError(f"Unknown jurisdiction: {', '.join(unknown)}.")
    product = _lock_product(product)
    before = snapshot(product, CLASSIFICATION_FIELDS + APPROVAL_FIELDS)
    product.classification = classification
    product.jurisdictions = sorted(set(jurisdictions))
    product.intended_topical = intended_topical
    product.intended_intradermal = intended_intradermal
    product.intended_scalp = intended_scalp
    changed = snapshot(product, CLASSIFICATION_FIELDS) != {k: before[k] for k in CLASSIFICATION_FIELDS}
    if not changed:
        return product
    revoked = product.approved_at is not None
    if revoked:
        product.approved_at = None
        product.approved_by = None
    product.full_clean()
    product.save(update_fields=[*CLASSIFICATION_FIELDS, *APPROVAL_FIELDS])
    audit_record(
        actor=actor,
        action=AuditAction.PRODUCT_CLASSIFY,
        obj=product,
        before=before,
        after={**snapshot(product, CLASSIFICATION_FIELDS + APPROVAL_FIELDS), "approval_revoked": revoked},
    )
    return product


@transaction.atomic
def product_approve(*, actor: User | None, product: Product) -> Product:
    """A manager approves the product for use, once its classification and documents allow it."""
    product = _lock_product(product)
    if product.approved_at is not None:
        raise ValidationError(f"{product.name} is already approved.")
    missing = product_document_problems(product, current_docs(product_ids=[product.pk], lot_ids=[]))
    if missing:
        raise ValidationError([f"{product.name} cannot be approved yet.", *missing])
    before = snapshot(product, APPROVAL_FIELDS)
    product.approved_at = timezone.now()
    product.approved_by = _actor(actor)
    product.save(update_fields=list(APPROVAL_FIELDS))
    audit_record(
        actor=actor,
        action=AuditAction.PRODUCT_APPROVE,
        obj=product,
        before=before,
        after=snapshot(product, APPROVAL_FIELDS),
    )
    return product


@transaction.atomic
def product_revoke_approval(*, actor: User | None, product: Product, reason: str) -> Product:
    """Withdraw a product's approval (a supplier's warning, a doubt about its documents…)."""
    if not reason.strip():
        raise ValidationError("Say why the approval is revoked.")
    product = _lock_product(product)
    if product.approved_at is None:
        raise ValidationError(f"{product.name} is not approved.")
    before = snapshot(product, APPROVAL_FIELDS)
    product.approved_at = None
    product.approved_by = None
    product.save(update_fields=list(APPROVAL_FIELDS))
    audit_record(
        actor=actor,
        action=AuditAction.PRODUCT_APPROVAL_REVOKE,
        obj=product,
        before=before,
        after={**snapshot(product, APPROVAL_FIELDS), "reason": reason.strip()},
    )
    return product

"""Regulatory classification and documents: what the clearance gate (``products.compliance``) reads."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from dataclasses import dataclass

from django.apps import apps
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections, models
from django.db.models import Exists, F, OuterRef, Q
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce
from django.db.models.lookups import In
from django.utils import timezone

from clinic.scoping import location_ids_for
from products.models.certificate_dates import STORED_TYPES


class Classification(models.TextChoices):
    UNKNOWN = "unknown", "Unknown"
    COSMETIC = "cosmetic", "Cosmetic"
    DEVICE_I = "device_i", "Medical device, class I"
    DEVICE_IIA = "device_iia", "Medical device, class IIa"
    DEVICE_IIB = "device_iib", "Medical device, class IIb"
    DEVICE_III = "device_iii", "Medical device, class III"
    ATMP = "atmp", "Advanced therapy medicinal product (ATMP)"
    INVESTIGATIONAL = "investigational", "Investigational or unapproved"


DEVICE_CLASSES = (
    Classification.DEVICE_I,
    Classification.DEVICE_IIA,
    Classification.DEVICE_IIB,
    Classification.DEVICE_III,
)


class Jurisdiction(models.TextChoices):
    UK = "UK", "United Kingdom"
    EU = "EU", "European Union"
    US = "US", "United States"
    KR = "KR", "South Korea"
    CH = "CH", "Switzerland"
    AU = "AU", "Australia"
    OTHER = "other", "Other"


class DocumentType(models.TextChoices):
    CE_CERTIFICATE = "ce_certificate", "CE certificate"
    DECLARATION = "declaration", "EU/UK declaration of conformity"
    COA = "coa", "Certificate of analysis"
    IFU = "ifu", "Instructions for use"
    SDS = "sds", "Safety data sheet"
    MANUFACTURING = "manufacturing", "GMP or MFDS manufacturing certificate"
    REGISTRATION = "registration", "Registration or import record"
    ATMP_AUTHORISATION = "atmp_authorisation", "ATMP authorisation"
    SUPPLIER_AGREEMENT = "supplier_agreement", "Supplier agreement"
    OTHER = "other", "Other"


class RegulatoryDocumentQuerySet(models.QuerySet):
    def current(self) -> RegulatoryDocumentQuerySet:
        """Documents not replaced by a renewal (superseded ones stay on file, out of this set)."""
        return self.filter(superseded_by__isnull=True)

    def valid_on(self, day: dt.date | None = None) -> RegulatoryDocumentQuerySet:
        """Current documents that have not expired on ``day`` (today by default)."""
        day = day or timezone.localdate()
        return self.current().filter(Q(expires_on__isnull=True) | Q(expires_on__gte=day))

    def for_user(self, user) -> RegulatoryDocumentQuerySet:
        """Product documents are clinic-wide (so is the catalogue); a lot's documents belong to
        the lot's location, like the lot itself."""
        if not getattr(user, "is_authenticated", False) or not user.is_active:
            return self.none()
        if user.is_superuser:
            return self
        locations = location_ids_for(user)
        # A split lot's certificate is filed on its first row; every place holding it may read it.
        elsewhere = Exists(
            apps.get_model("products", "Lot").objects.filter(
                origin=OuterRef("lot"), storage_unit__location__in=locations
            )
        )
        return self.filter(Q(lot__isnull=True) | Q(lot__storage_unit__location__in=locations) | elsewhere)


class RegulatoryDocument(models.Model):
    """A regulatory document on file for a product, or for one lot (a certificate of analysis).

    The file is stored privately under a server-chosen name; its SHA-256 is kept so anyone can
    check a printed copy against the original. A renewal supersedes the document, which stays
    on file (``superseded_by``); only current, unexpired documents clear a product.
    """

    doc_type = models.CharField("type", max_length=30, choices=DocumentType.choices)
    product = models.ForeignKey(
        "products.Product", null=True, blank=True, on_delete=models.PROTECT, related_name="documents"
    )
    lot = models.ForeignKey(
        "products.Lot", null=True, blank=True, on_delete=models.PROTECT, related_name="documents"
    )
    issuer = models.CharField(max_length=150, help_text="Notified body, manufacturer or authority.")
    reference = models.CharField("reference number", max_length=100)
    issued_on = models.DateField("issue date")
    expires_on = models.DateField("expiry date", null=True, blank=True)
    file_name = models.CharField(max_length=255, editable=False)
    file_kind = models.CharField(max_length=10, editable=False)
    file_size = models.PositiveIntegerField(editable=False)
    original_name = models.CharField(max_length=200, blank=True, editable=False)
    sha256 = models.CharField("SHA-256", max_length=64, editable=False)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    uploaded_at = models.DateTimeField(default=timezone.now)
    superseded_by = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="supersedes"
    )
    superseded_at = models.DateTimeField(null=True, blank=True)

    objects = RegulatoryDocumentQuerySet.as_manager()

    class Meta:
        ordering = ["doc_type", "-issued_on", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(product__isnull=False, lot__isnull=True)
                | Q(product__isnull=True, lot__isnull=False),
                name="document_for_product_or_lot",
            ),
            # A certificate of analysis describes one lot, never the product as a whole.
            models.CheckConstraint(
                condition=~Q(doc_type="coa") | Q(lot__isnull=False), name="document_coa_belongs_to_lot"
            ),
            models.CheckConstraint(
                condition=Q(expires_on__isnull=True) | Q(expires_on__gt=models.F("issued_on")),
                name="document_expiry_after_issue",
            ),
            models.CheckConstraint(
                condition=~Q(superseded_by=models.F("pk")), name="document_not_superseded_by_itself"
            ),
        ]
        indexes = [
            models.Index(fields=["product", "doc_type"], name="document_product_type"),
            models.Index(fields=["lot", "doc_type"], name="document_lot_type"),
            models.Index(fields=["expires_on"], name="document_expiry"),
        ]

    def __str__(self) -> str:
        return f"{self.get_doc_type_display()} {self.reference} ({self.subject})"

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        if bool(self.product_id) == bool(self.lot_id):
            raise ValidationError("A document belongs to a product or to one of its lots.")
        if self.doc_type == DocumentType.COA and not self.lot_id:
            raise ValidationError(
                {"doc_type": "A certificate of analysis belongs to a lot: upload it there."}
            )
        if self.expires_on and self.issued_on and self.expires_on <= self.issued_on:
            raise ValidationError({"expires_on": "The expiry date must be after the issue date."})

    @property
    def subject(self):
        return self.lot if self.lot_id else self.product

    @property
    def owning_product(self):
        return self.lot.product if self.lot_id else self.product

    @property
    def is_current(self) -> bool:
        return self.superseded_by_id is None

    @property
    def is_expired(self) -> bool:
        return bool(self.expires_on and self.expires_on < timezone.localdate())

    @property
    def location(self):
        """The location a lot's document belongs to; None for a clinic-wide product document."""
        return self.lot.storage_unit.location if self.lot_id else None

    @property
    def download_name(self) -> str:
        from clinic.files import EXTENSIONS

        return f"{self.get_doc_type_display()} {self.reference}{EXTENSIONS.get(self.file_kind, '')}"


# --- The clearance rules -----------------------------------------------------------------------
# What clears a product for use, beside the models it reads; ``products.compliance`` explains
# in words what a product or lot lacks, from the same table.


@dataclass(frozen=True)
class Rule:
    """What clears a classification: every group needs one current, unexpired document of one
    of its types. ``refusal`` set = nothing clears it (the sentence says why)."""

    requires: tuple[tuple[str, ...], ...] = ()
    refusal: str = ""


_DEVICE = Rule(
    requires=(
        (DocumentType.CE_CERTIFICATE, DocumentType.DECLARATION),
        (DocumentType.IFU,),
    )
)

# THE RULES TABLE. A product is cleared when its classification's rule has every document
# group on file and unexpired, and a manager has approved it (approval is cleared when the
# classification changes). Every lot also needs its own certificate of analysis (LOT_REQUIRES).
RULES: dict[str, Rule] = {
    Classification.UNKNOWN: Rule(
        refusal="{name}'s classification is unknown: the supplier must state it, with its documents, "
        "before it can be used."
    ),
    # A cosmetic needs no conformity certificate, but the clinic must hold the safety data sheet
    # (what it contains and how to handle it) before applying it to a patient.
    Classification.COSMETIC: Rule(requires=((DocumentType.SDS,),)),
    Classification.DEVICE_I: _DEVICE,
    Classification.DEVICE_IIA: _DEVICE,
    Classification.DEVICE_IIB: _DEVICE,
    Classification.DEVICE_III: _DEVICE,
    Classification.ATMP: Rule(requires=((DocumentType.ATMP_AUTHORISATION,),)),
    Classification.INVESTIGATIONAL: Rule(
        refusal="{name} is investigational or unapproved: no document clears it for use in the clinic."
    ),
}
LOT_REQUIRES: tuple[tuple[str, ...], ...] = ((DocumentType.COA,),)


# --- The same rules in SQL -----------------------------------------------------------------------

# Per thread (a connection is per thread): compiled SQL of uncorrelated subqueries, by key.
_COMPILED = threading.local()
_COMPILED_KEPT = 32


def compiled_subquery(key: tuple, build: Callable[[], models.QuerySet]) -> RawSQL:
    """``build()`` (an uncorrelated ``values(...)`` queryset) as SQL compiled once per thread for
    ``key``, which names everything the SQL depends on (the rule, the day). Issue 19: building
    and compiling a rule's subquery (every classification's EXISTS) is milliseconds of Python,
    paid by every query of a page that asks the rule; its SQL is the same all day. Only the
    SQL text and its parameters are kept, never rows: every query reads the documents afresh."""
    kept: dict | None = getattr(_COMPILED, "kept", None)
    if kept is None or len(kept) > _COMPILED_KEPT:  # bounded: past days' keys go with the rest
        kept = _COMPILED.kept = {}
    full_key = (connections[DEFAULT_DB_ALIAS].vendor, *key)
    if full_key not in kept:
        # Unordered, as Django leaves a subquery (a model's default ordering would sort it).
        kept[full_key] = build().order_by().query.sql_with_params()
    sql, params = kept[full_key]
    # Django's own SQL for our own queryset, its parameters passed apart: nothing user-made.
    return RawSQL(sql, params)  # noqa: S611


def cleared_condition(*, product_ref: str = "pk", prefix: str = "", today: dt.date | None = None) -> Q:
    """A condition true for rows whose product is cleared today.

    ``product_ref`` is the outer field holding the product's id ("pk" on products, "product" on
    lots); ``prefix`` the path to the product's fields ("" or "product__"). Exists subqueries:
    one query for a whole list.
    """
    valid = RegulatoryDocument.objects.valid_on(today).filter(product=OuterRef(product_ref))
    # Classifications with the same requirements share one branch (the four device classes):
    # the same rule in a quarter of the SQL, quicker to build, plan and run.
    sharing: dict[tuple[tuple[str, ...], ...], list[str]] = {}
    for classification, rule in RULES.items():
        if not rule.refusal:
            sharing.setdefault(rule.requires, []).append(classification)
    options = Q(pk__in=[])
    for requires, classifications in sharing.items():
        condition = Q(**{f"{prefix}classification__in": classifications})
        for group in requires:
            condition &= Exists(valid.filter(doc_type__in=group))
        options |= condition
    return options & Q(**{f"{prefix}approved_at__isnull": False})


def lot_document_group_condition(
    group: tuple[str, ...], *, lot_ref: str = "pk", today: dt.date | None = None, bulk: bool = False
) -> Q:
    """A condition true for lots holding one document of ``group`` (one of ``LOT_REQUIRES``),
    valid today: its negation is one compliance gap per lot, counted in SQL.

    A lot's documents are filed on the row that stands for the manufacturer's lot (its
    ``origin`` when its stock is split between places), so every place of it is covered.

    Two spellings of the same test, both of the row ``Coalesce(origin, pk)`` names. By default an
    EXISTS per lot (an index probe each: right for a page of rows, and the clearance gate's
    own question). ``bulk=True``, for a count or sum over every lot: the certificate of analysis
    is read from the lot row's stored date (``Lot.certificate_until``, kept by triggers from the
    same documents), a comparison per row; any other group as ``Coalesce(origin, pk) IN (…)``,
    which the database hashes once per query."""
    origin_ref = "origin" if lot_ref == "pk" else f"{lot_ref}__origin"
    today = today or timezone.localdate()

    def valid() -> RegulatoryDocumentQuerySet:
        return RegulatoryDocument.objects.valid_on(today).filter(doc_type__in=group)

    if bulk and tuple(group) == STORED_TYPES:
        until = "certificate_until" if lot_ref == "pk" else f"{lot_ref}__certificate_until"
        # IS NOT NULL first: a lot with no certificate is false, never NULL, in an annotation.
        return Q(**{f"{until}__isnull": False, f"{until}__gte": today})
    if bulk:
        filed = compiled_subquery(
            ("lot_documents", group, today),
            lambda: valid().filter(lot__isnull=False).values("lot"),
        )
        row = Coalesce(F(origin_ref), F(lot_ref), output_field=models.BigIntegerField())
        return Q(In(row, filed))
    return Q(Exists(valid().filter(lot=Coalesce(OuterRef(origin_ref), OuterRef(lot_ref)))))


def lot_documents_condition(*, lot_ref: str = "pk", today: dt.date | None = None, bulk: bool = False) -> Q:
    """A condition true for lots holding every document ``LOT_REQUIRES`` asks for, valid today
    (``bulk``: see ``lot_document_group_condition``)."""
    condition = Q()
    for group in LOT_REQUIRES:
        condition &= lot_document_group_condition(group, lot_ref=lot_ref, today=today, bulk=bulk)
    return condition

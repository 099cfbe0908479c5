"""Patients: contact and booking data only (what the front desk may see)."""

from __future__ import annotations

import datetime as dt
import re

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from clinic.models import Location
from clinic.scoping import LocationScopedQuerySet
from treatments.models.common import ReminderChannel, phone_digits, search_key

# --- Patients -------------------------------------------------------------------------------


class PatientQuerySet(LocationScopedQuerySet):
    location_lookup = "location"

    def search(self, query: str) -> PatientQuerySet:
        """Type-ahead search: name prefixes (either order), phone digits prefix or date of birth.

        Every branch is a prefix or equality match on an indexed column, so it stays fast
        with tens of thousands of patients.
        """
        query = (query or "").strip()
        if not query:
            return self.none()
        born = parse_date_of_birth(query)
        if born:
            return self.filter(date_of_birth=born)
        digits = re.sub(r"[\s()+-]", "", query)
        if digits.isdigit():
            if len(digits) < 3:
                return self.none()
            return self.filter(phone_digits__startswith=phone_digits(query))
        words = search_key(query).split()
        if len(words) == 1:
            w = words[0]
            return self.filter(Q(last_name_key__startswith=w) | Q(first_name_key__startswith=w))
        first, rest = words[0], " ".join(words[1:])
        last, head = words[-1], " ".join(words[:-1])
        return self.filter(
            Q(first_name_key__startswith=first, last_name_key__startswith=rest)
            | Q(first_name_key__startswith=head, last_name_key__startswith=last)
            | Q(last_name_key__startswith=first, first_name_key__startswith=rest)
        )

    def likely_duplicates(self, *, first_name: str, last_name: str, date_of_birth: dt.date):
        return self.filter(
            first_name_key=search_key(first_name),
            last_name_key=search_key(last_name),
            date_of_birth=date_of_birth,
        )


def parse_date_of_birth(text: str) -> dt.date | None:
    """A date typed as 31/12/1980, 31-12-1980, 31.12.1980 or 1980-12-31, else None."""
    text = text.strip()
    for fmt in ("%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y", "%Y-%m-%d"):
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return None


# No patient alive was born before this; an earlier date is a typo (0001-01-01, 1066).
EARLIEST_BIRTH = dt.date(1900, 1, 1)


class Patient(models.Model):
    """A patient of the clinic, registered at a home location.

    Only contact and booking data lives here; the front desk may see all of it. Clinical
    data (screening, consent, photos, treatment notes) belongs in separate models that
    are shown only to holders of ``treatments.view_clinical_record``.
    """

    location = models.ForeignKey(
        Location, on_delete=models.PROTECT, related_name="patients", verbose_name="home location"
    )
    first_name = models.CharField(max_length=80)
    last_name = models.CharField(max_length=80)
    date_of_birth = models.DateField()
    phone = models.CharField(max_length=40, blank=True)
    email = models.EmailField(blank=True)
    reminder_channel = models.CharField(
        max_length=10, choices=ReminderChannel.choices, default=ReminderChannel.SMS
    )
    reminder_opt_in = models.BooleanField(
        default=False, verbose_name="agrees to reminders", help_text="Send reminders only with consent."
    )
    front_desk_notes = models.TextField(
        blank=True, help_text="Practical notes for the desk (access, preferences). Nothing clinical."
    )
    # Lower-cased copies kept by save(): prefix search on an index, no function per row.
    first_name_key = models.CharField(max_length=80, editable=False)
    last_name_key = models.CharField(max_length=80, editable=False)
    phone_digits = models.CharField(max_length=40, editable=False, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Restriction of processing (GDPR article 18): while set, no reminders are written or sent
    # and no photo may be used for marketing; the record itself stays readable for care.
    restricted_at = models.DateTimeField(null=True, blank=True, editable=False)
    restricted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        editable=False,
    )
    restriction_reason = models.CharField(max_length=300, blank=True, editable=False)

    objects = PatientQuerySet.as_manager()

    class Meta:
        ordering = ["last_name", "first_name", "pk"]
        permissions = [
            ("view_clinical_record", "Can see clinical notes, screening, consent and photos"),
            ("manage_data_rights", "Can export a patient's data and restrict or erase it on request"),
        ]
        indexes = [
            # varchar_pattern_ops lets PostgreSQL use the index for LIKE 'abc%' whatever the
            # collation; other databases ignore the operator class.
            models.Index(
                fields=["last_name_key"], name="patient_last_key_idx", opclasses=["varchar_pattern_ops"]
            ),
            models.Index(
                fields=["first_name_key"], name="patient_first_key_idx", opclasses=["varchar_pattern_ops"]
            ),
            models.Index(
                fields=["phone_digits"], name="patient_phone_idx", opclasses=["varchar_pattern_ops"]
            ),
            models.Index(fields=["date_of_birth"], name="patient_dob_idx"),
            models.Index(fields=["location", "last_name", "first_name"], name="patient_loc_name_idx"),
            # The patient list's default order (sort_queryset adds the pk): PostgreSQL walks it
            # and stops after a page instead of sorting every patient of the user's locations.
            models.Index(fields=["last_name_key", "id"], name="patient_name_order_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.first_name} {self.last_name}"

    def save(self, *args, **kwargs) -> None:
        self.refresh_keys()
        super().save(*args, **kwargs)

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        born = self.date_of_birth
        if born is not None and not EARLIEST_BIRTH <= born <= timezone.localdate():
            raise ValidationError(
                {"date_of_birth": f"Give a date of birth between {EARLIEST_BIRTH.year} and today."}
            )

    @property
    def is_restricted(self) -> bool:
        return self.restricted_at is not None

    @property
    def initials(self) -> str:
        return f"{self.first_name[:1]}.{self.last_name[:1]}.".upper()

    def refresh_keys(self) -> None:
        self.first_name_key = search_key(self.first_name)
        self.last_name_key = search_key(self.last_name)
        self.phone_digits = phone_digits(self.phone)

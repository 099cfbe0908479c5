"""factory_boy factories for the treatments app."""

from __future__ import annotations

import datetime as dt

import factory
from django.contrib.auth.models import Group
from django.utils import timezone

from clinic.models import StaffProfile
from clinic.phones import phone_fictional
from clinic.roles import PRACTITIONER, ROLES
from tests.factories import LocationFactory, UserFactory
from treatments.models import (
    Patient,
    ProtocolTemplate,
    Room,
    Session,
    SessionStatus,
    TreatmentPlan,
    TreatmentType,
    WorkingHours,
)
from treatments.protocols import ensure_default_templates


class PatientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Patient

    location = factory.SubFactory(LocationFactory)
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    date_of_birth = factory.Faker("date_of_birth", minimum_age=20, maximum_age=75)
    # Stored as the services store it: E.164, in Ofcom's drama ranges (07700 900xxx is not a
    # valid number for libphonenumber).
    phone = factory.Sequence(phone_fictional)
    email = factory.LazyAttribute(lambda p: f"{p.first_name.lower()}.{p.last_name.lower()}@example.com")


class RoomFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Room
        django_get_or_create = ("location", "name")

    location = factory.SubFactory(LocationFactory)
    name = factory.Sequence(lambda n: f"Room {n + 1}")


def all_week_hours(practitioner, location, start=dt.time(0, 0), end=dt.time(23, 59)) -> None:
    """Working hours covering every day, for tests that are not about working hours."""
    for day in range(7):
        WorkingHours.objects.get_or_create(
            practitioner=practitioner, location=location, weekday=day, start_time=start, end_time=end
        )


def at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    """An aware datetime in the clinic's time zone."""
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=timezone.get_current_timezone())


def next_weekday(weekday: int, after: dt.date | None = None) -> dt.date:
    """The next date (strictly after ``after``, default today) that falls on ``weekday``."""
    day = (after or timezone.localdate()) + dt.timedelta(days=1)
    while day.weekday() != weekday:
        day += dt.timedelta(days=1)
    return day


def default_practitioner(location):
    """One shared practitioner for sessions whose test does not care who treats."""
    user = UserFactory(username="prac_default", first_name="Paula", last_name="Default")
    if not user.groups.exists():
        user.groups.set([Group.objects.get(name=ROLES[PRACTITIONER].group)])
    profile, _ = StaffProfile.objects.get_or_create(user=user)
    profile.locations.add(location)
    return user


class SessionFactory(factory.django.DjangoModelFactory):
    """A session written directly (no service): for history in the past and list fixtures."""

    class Meta:
        model = Session

    patient = factory.SubFactory(PatientFactory)
    location = factory.SelfAttribute("patient.location")
    practitioner = factory.LazyAttribute(lambda o: default_practitioner(o.location))
    room = None
    treatment_type = TreatmentType.SKIN_QUALITY
    starts_at = factory.LazyFunction(lambda: at(timezone.localdate(), 10))
    duration_minutes = 45
    status = SessionStatus.BOOKED
    cancel_reason = factory.LazyAttribute(
        lambda o: "Patient unwell" if o.status == SessionStatus.CANCELLED else ""
    )


def template(key: str = "skin-quality") -> ProtocolTemplate:
    """One of the default templates (seeded by the data migration; put back after a flush)."""
    return ensure_default_templates()[key]


class PlanFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TreatmentPlan
        skip_postgeneration_save = True

    patient = factory.SubFactory(PatientFactory)
    template = factory.LazyFunction(template)
    treatment_type = factory.SelfAttribute("template.treatment_type")
    per_procedure = factory.SelfAttribute("template.per_procedure")
    induction_sessions = factory.SelfAttribute("template.induction_sessions")
    induction_interval_days = factory.SelfAttribute("template.induction_interval_days")
    maintenance_min_days = factory.SelfAttribute("template.maintenance_min_days")
    maintenance_max_days = factory.SelfAttribute("template.maintenance_max_days")
    started_on = factory.LazyFunction(timezone.localdate)

    @factory.post_generation
    def progress(self, create, extracted, **kwargs):
        if create:
            self.refresh_progress()


# --- Consent and screening -------------------------------------------------------------------


def signature_png(*, blank: bool = False, size: tuple[int, int] = (300, 100)) -> bytes:
    """A PNG like the signature pad makes: transparent, with a stroke of ink unless ``blank``."""
    import io

    from PIL import Image, ImageDraw

    image = Image.new("RGBA", size, (0, 0, 0, 0))
    if not blank:
        ImageDraw.Draw(image).line(
            [(10, 80), (80, 20), (150, 70), (280, 30)], fill=(17, 17, 17, 255), width=3
        )
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def signature_data_url(**kwargs) -> str:
    import base64

    return "data:image/png;base64," + base64.b64encode(signature_png(**kwargs)).decode()


def consent_template(treatment_type: str = TreatmentType.SKIN_QUALITY, *, actor=None):
    """The current consent template for a treatment type (published through the service)."""
    from treatments.models import ConsentTemplate
    from treatments.services import consent_template_publish

    return ConsentTemplate.current(treatment_type) or consent_template_publish(
        actor=actor,
        treatment_type=treatment_type,
        title=f"Consent to {TreatmentType(treatment_type).label.lower()}",
        body="What the treatment involves, its risks (redness, swelling, bruising), alternatives, aftercare.",
    )


def sign_consent(patient, practitioner, treatment_type: str = TreatmentType.SKIN_QUALITY, **scopes):
    """A signed consent through the service (treatment scope by default)."""
    from treatments.services import consent_sign

    return consent_sign(
        actor=practitioner,
        patient=patient,
        template=consent_template(treatment_type),
        typed_name=str(patient),
        signature_data_url=signature_data_url(),
        **scopes,
    )


def screen(patient, practitioner, *, session=None, details: str = "", **answers):
    """A screening questionnaire through the service (all "no" unless given)."""
    from treatments.services import screening_record

    if any(answers.values()) and not details:
        details = "Details as given by the patient."
    return screening_record(
        actor=practitioner, patient=patient, session=session, answers=answers, details=details
    )


# --- Treatment records -----------------------------------------------------------------------


def ready_session(patient, practitioner, *, treatment_type: str = TreatmentType.SKIN_QUALITY, **answers):
    """An attended session whose patient has signed consent and was screened at this visit."""
    session = SessionFactory(
        patient=patient,
        practitioner=practitioner,
        treatment_type=treatment_type,
        status=SessionStatus.IN_TREATMENT,
    )
    sign_consent(patient, practitioner, treatment_type)
    screen(patient, practitioner, session=session, **answers)
    return session


def charting_lot(location, *, quantity: int = 10, **product_fields):
    """A lot at ``location`` of a product labelled for topical and intradermal use."""
    from products.models import StorageUnit
    from tests.products.factories import ProductFactory, StorageUnitFactory, make_lot

    unit = StorageUnit.objects.filter(location=location).first() or StorageUnitFactory(location=location)
    fields = {"route_topical": True, "route_intradermal": True, **product_fields}
    return clear_for_use(make_lot(unit=unit, product=ProductFactory(**fields), quantity=quantity))


def clear_for_use(lot):
    """Make the lot pass ``products.compliance.lot_clearance_problems``: its product a class IIa
    device intended for its labelled routes, with a CE certificate and instructions for use on
    file and a manager's approval, and the lot its certificate of analysis. (Before the
    compliance rules existed every lot was cleared, hence the guarded import.)"""
    try:
        from products.models import RegulatoryDocument
        from products.models.compliance import Classification, DocumentType
    except ImportError:
        return lot
    from products import compliance
    from products.models import Product

    if not compliance.lot_clearance_problems(lot):
        return lot
    product = lot.product
    routes = set(product.routes)
    Product.objects.filter(pk=product.pk).update(
        classification=Classification.DEVICE_IIA,
        intended_topical="topical" in routes,
        intended_intradermal="intradermal" in routes,
        intended_scalp="scalp" in routes,
        approved_at=timezone.now(),
    )
    issued = timezone.localdate() - dt.timedelta(days=200)
    for doc_type, owner in (
        (DocumentType.CE_CERTIFICATE, {"product": product}),
        (DocumentType.IFU, {"product": product}),
        (DocumentType.COA, {"lot": lot}),
    ):
        RegulatoryDocument.objects.create(
            doc_type=doc_type,
            issuer="Test notified body",
            reference=f"{doc_type}-{lot.pk}",
            issued_on=issued,
            file_name="documents/test.pdf",
            file_kind="pdf",
            file_size=1,
            sha256="0" * 64,
            **owner,
        )
    lot = type(lot).objects.select_related("product", "storage_unit").get(pk=lot.pk)
    assert not compliance.lot_clearance_problems(lot), compliance.lot_clearance_problems(lot)
    return lot


def line_input(lot, **kwargs):
    """A product line for ``treatment_record_save``: one sealed vial, intradermal to the face."""
    from treatments.services import LineInput

    values = {"source": "sealed", "vials": 1, "route": "intradermal", "areas": ["face"]}
    values.update(kwargs)
    return LineInput(lot=lot, **values)


def chart(session, practitioner, *lines, **kwargs):
    """Save a treatment record through the service with the checks ticked."""
    from treatments.services import treatment_record_save

    kwargs.setdefault("screening_confirmed", True)
    kwargs.setdefault("consent_checked", True)
    kwargs.setdefault("combined_procedure", "microneedling")
    return treatment_record_save(actor=practitioner, session=session, lines=list(lines), **kwargs)


# --- Objects for the views' tests ------------------------------------------------------------


def charted_patient_objects(location, practitioner, first_name: str) -> dict:
    """A patient with a charted record, a signed one and an open session (views' tests)."""
    patient = PatientFactory(location=location, first_name=first_name, last_name="Doe")
    lot = charting_lot(location)
    charted = ready_session(patient, practitioner)
    record = chart(charted, practitioner, line_input(lot)).record
    signed_session = SessionFactory(
        patient=patient,
        practitioner=practitioner,
        status=SessionStatus.IN_TREATMENT,
        starts_at=timezone.now() - dt.timedelta(days=30),
    )
    screen(patient, practitioner, session=signed_session)
    signed = chart(signed_session, practitioner, line_input(lot)).record
    from treatments.services import treatment_record_sign

    treatment_record_sign(actor=practitioner, record=signed)
    open_session = ready_session(patient, practitioner)
    return {
        "patient": patient,
        "lot": lot,
        "record": record,
        "signed": signed,
        "open_session": open_session,
    }


def screened_patient_objects(location, practitioner) -> dict:
    """A patient who has arrived, signed consent and answered a contraindicating screening."""
    patient = PatientFactory(location=location, first_name="Dora", last_name="Doe")
    session = SessionFactory(patient=patient, practitioner=practitioner, status=SessionStatus.ARRIVED)
    consent = sign_consent(patient, practitioner, scope_photography=True)
    screening = screen(patient, practitioner, pregnant_or_breastfeeding=True)
    return {"patient": patient, "session": session, "consent": consent, "screening": screening}

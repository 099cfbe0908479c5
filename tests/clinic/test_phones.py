"""Phone numbers: typed nationally or with +CC, stored in E.164, shown nationally; the E.164
migration of locations and staff; SMS never sent to a number that is not valid."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.template import Context, Template

from clinic import phones
from clinic.models import Location, Notification, StaffProfile
from clinic.notifications import NotificationKind, notification_queue, notification_send
from clinic.phones import (
    PhoneField,
    phone_fictional,
    phone_invalid,
    phone_is_valid,
    phone_national,
    phone_normalise,
    region_checked,
)
from tests.clinic.test_channels import FakeSms
from tests.factories import LocationFactory, staff

MESSAGE = "Enter a phone number such as 020 7946 0000 or +44 20 7946 0000."


class TestNormalise:
    @pytest.mark.parametrize(
        "typed",
        [
            "020 7946 0018",
            "02079460018",
            "(020) 7946-0018",
            " 020 7946 0018 ",
            "+44 20 7946 0018",
            "+44 (0)20 7946 0018",
            "0044 20 7946 0018",
            "+442079460018",
        ],
    )
    def test_national_and_international_forms_become_e164(self, typed):
        assert phone_normalise(typed) == "+442079460018"

    def test_a_number_of_another_country_keeps_its_code(self):
        assert phone_normalise("+33 1 23 45 67 89") == "+33123456789"
        assert phone_normalise("+1 202 555 0143") == "+12025550143"

    def test_blank_is_no_number(self):
        assert phone_normalise("") == phone_normalise("   ") == ""

    @pytest.mark.parametrize(
        ("typed", "lead"),
        [
            ("call me maybe", "A phone number has digits only"),
            ("0800 FLOWERS", "A phone number has digits only"),  # letters are not dialled for us
            ("020 7946 0018 ext 12", "A phone number has digits only"),  # E.164 has no extension
            ("020 794", "That number has too few digits: include the area code."),
            ("7946 0018", "That number has too few digits: include the area code."),
            ("020 7946", "That is not a valid phone number."),
            ("020 7946 0018 0018 00", "That number has too many digits."),
            ("07700 900123", "That is not a valid phone number."),  # Ofcom's drama mobiles: unallocated
            ("+44 1632 960001", "That is not a valid phone number."),
            ("++44", ""),
        ],
    )
    def test_what_is_not_a_number_in_use_is_refused_with_an_example(self, typed, lead):
        with pytest.raises(ValidationError) as exc:
            phone_normalise(typed)
        [message] = exc.value.messages
        assert message.startswith(lead) and message.endswith(MESSAGE)
        assert exc.value.error_list[0].code == "invalid_phone"


class TestDisplay:
    def test_the_clinics_numbers_are_shown_nationally(self):
        assert phone_national("+442079460018") == "020 7946 0018"
        assert phone_national("+441134960123") == "0113 496 0123"

    def test_other_countries_are_shown_internationally(self):
        assert phone_national("+33123456789") == "+33 1 23 45 67 89"

    def test_a_value_kept_as_typed_is_shown_as_it_is(self):
        assert phone_national("call me maybe") == "call me maybe"
        assert phone_national("07700 900123") == "07700 900123"
        assert phone_national("") == ""

    def test_only_valid_e164_is_valid(self):
        assert phone_is_valid("+442079460018")
        for value in ("020 7946 0018", "+44 20 7946 0018", "+447700900123", "call me maybe", ""):
            assert not phone_is_valid(value), value
        assert phone_invalid("07700 900123") and not phone_invalid("") and not phone_invalid("+442079460018")

    def test_the_include_shows_national_format_or_the_raw_value_flagged(self):
        template = Template('{% include "includes/phone.html" with phone=phone link=link %}')

        def render(phone: str, link: bool = False) -> str:
            return template.render(Context({"phone": phone, "link": link}))

        assert render("+442079460018") == '<span class="text-nowrap">020 7946 0018</span>\n'
        assert render("+442079460018", link=True) == (
            '<a class="text-nowrap" href="tel:+442079460018">020 7946 0018</a>\n'
        )
        flagged = render("call me maybe")
        assert "call me maybe" in flagged and "check this number" in flagged
        assert "—" in render("")


class TestRegion:
    def test_the_region_setting_must_be_a_known_region(self):
        assert region_checked(" ie ") == "IE"
        with pytest.raises(ImproperlyConfigured, match="PHONE_REGION='XX' is not a region"):
            region_checked("XX")

    def test_numbers_typed_nationally_are_read_in_the_region(self, settings):
        settings.PHONE_REGION = "IE"
        assert phone_normalise("01 234 5678") == "+35312345678"
        assert phone_national("+35312345678") == "(01) 234 5678"
        assert phone_national("+442079460018") == "+44 20 7946 0018"  # now abroad
        with pytest.raises(ValidationError, match=r"Enter a phone number such as .+ or \+353 "):
            phone_normalise("020 7946 0018")  # a London number typed nationally is not Irish

    def test_the_search_key_follows_the_region(self, settings):
        from treatments.models import phone_digits

        assert phone_digits("+442079460018") == "02079460018"
        assert phone_digits("+33123456789") == "33123456789"
        settings.PHONE_REGION = "IE"
        assert phone_digits("+35312345678") == "012345678"
        assert phone_digits("+442079460018") == "442079460018"


def test_every_fictional_number_is_valid_and_they_do_not_repeat_for_13000():
    numbers = [phone_fictional(i) for i in range(len(phones.FICTIONAL_GB) * 1000)]
    assert len(set(numbers)) == len(numbers) == 13000
    assert all(phone_is_valid(n) for n in numbers)


class TestPhoneField:
    def test_it_cleans_to_e164_and_refuses_with_the_message(self):
        field = PhoneField(required=False)
        assert field.clean("020 7946 0018") == "+442079460018"
        assert field.clean("") == ""
        with pytest.raises(ValidationError) as exc:
            field.clean("call me maybe")
        assert exc.value.messages == [f"A phone number has digits only, no letters or extension. {MESSAGE}"]

    def test_a_stored_number_opens_nationally(self):
        assert PhoneField().prepare_value("+442079460018") == "020 7946 0018"
        assert PhoneField().prepare_value("call me maybe") == "call me maybe"

    @pytest.mark.django_db
    def test_the_location_admin_stores_e164_and_refuses_letters(self, client):
        from django.contrib.auth import get_user_model

        admin = get_user_model().objects.create_superuser("root", "root@example.com", "pw-long-enough-1")
        client.force_login(admin)
        data = {"name": "Leeds", "code": "leeds", "address": "", "phone": "0113 496 0999", "email": ""}
        response = client.post("/admin/clinic/location/add/", data | {"is_active": "on"})
        assert response.status_code == 302, response.content
        assert Location.objects.get(code="leeds").phone == "+441134960999"
        response = client.post(
            "/admin/clinic/location/add/", data | {"code": "york", "name": "York", "phone": "nope"}
        )
        assert response.status_code == 200 and MESSAGE in response.content.decode()
        assert not Location.objects.filter(code="york").exists()


# --- The migration of locations' and staff numbers ---------------------------------------------


@pytest.mark.django_db
def test_the_migration_stores_valid_numbers_in_e164_and_keeps_the_rest():
    migration = importlib.import_module("clinic.migrations.0007_phone_e164")
    typed = {
        "a": "020 7946 0001",
        "b": "+44 161 496 0002",
        "c": "call the office",
        "d": "07700 900123",
        "e": "",
        "f": "+442079460005",
    }
    for code in typed:
        LocationFactory(code=code, name=f"Site {code}")
    for code, phone in typed.items():
        Location.objects.filter(code=code).update(phone=phone)  # as stored before validation
    member = staff("manager")
    StaffProfile.objects.filter(user=member).update(phone="0113 496 0123")
    other = staff("front_desk")
    StaffProfile.objects.filter(user=other).update(phone="ring reception")

    migration.phones_to_e164(apps, None)

    stored = dict(Location.objects.filter(code__in=typed).values_list("code", "phone"))
    assert stored == {
        "a": "+442079460001",
        "b": "+441614960002",
        "c": "call the office",  # kept, never lost
        "d": "07700 900123",
        "e": "",
        "f": "+442079460005",
    }
    assert StaffProfile.objects.get(user=member).phone == "+441134960123"
    assert StaffProfile.objects.get(user=other).phone == "ring reception"


# --- SMS to a number that is not valid ---------------------------------------------------------


def _sms(to: str) -> Notification:
    notification = notification_queue(
        kind=NotificationKind.DOCUMENT_EXPIRY,
        channel="sms",
        subject="Reminder",
        body="See you on Tuesday.",
        dedupe_key=f"test:{to}",
        to_address=to,
    )
    assert notification is not None
    return notification


@pytest.fixture
def fake_sms(settings):
    settings.SMS_BACKEND = "tests.clinic.test_channels.FakeSms"
    FakeSms.sent = []
    return FakeSms.sent


@pytest.mark.django_db
@pytest.mark.parametrize("to", ["call me maybe", "07700 900123", "020 7946 0018", "+447700900123"])
def test_an_sms_to_a_number_that_is_not_valid_e164_fails_at_once_and_is_not_sent(fake_sms, settings, to):
    settings.OUTBOX_MAX_ATTEMPTS = 5
    notification = _sms(to)
    assert notification_send(notification_id=notification.pk) == "undeliverable"
    notification.refresh_from_db()
    assert fake_sms == []  # the provider never saw the raw string
    assert notification.status == Notification.Status.FAILED and notification.attempts == 1  # no retries
    assert notification.last_error.startswith(f"Not sent: {to!r} is not a valid phone number.")
    assert "Correct it on the patient's page" in notification.last_error


@pytest.mark.django_db
def test_an_sms_to_a_valid_number_is_sent_to_e164(fake_sms):
    notification = _sms("+442079460018")
    assert notification_send(notification_id=notification.pk) == "sent"
    assert [m["to"] for m in fake_sms] == ["+442079460018"]


@pytest.mark.django_db
def test_the_outbox_page_shows_numbers_nationally_and_the_reason(client_for, manager, fake_sms):
    sent, failed = _sms("+442079460018"), _sms("call me maybe")
    notification_send(notification_id=sent.pk)
    notification_send(notification_id=failed.pk)
    html = client_for(manager).get("/clinic/outbox/").content.decode()
    assert "020 7946 0018" in html and "+442079460018" not in html
    assert "is not a valid phone number" in html

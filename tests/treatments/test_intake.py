"""Intake before the visit: after booking, the patient answers the screening questions and signs
the consent from a signed link; the practitioner still confirms the screening in person."""

from __future__ import annotations

import datetime as dt
import re
from unittest import mock

import pytest
import time_machine
from django.core import mail, signing
from django.core.exceptions import ValidationError

from clinic.models import AuditEvent, Notification
from clinic.notifications import NotificationKind, outbox
from tests.treatments.factories import (
    PatientFactory,
    SessionFactory,
    all_week_hours,
    at,
    chart,
    charting_lot,
    consent_template,
    line_input,
    sign_consent,
    signature_data_url,
)
from treatments import links, services
from treatments.consent import treatment_consent_for
from treatments.models import ConsentTemplate, IntakeSubmission, PatientConsent, Screening, SessionStatus
from treatments.services.intake import intake_submit

pytestmark = pytest.mark.django_db

TODAY = dt.date(2026, 3, 10)
NOW = at(TODAY, 10)
START = NOW + dt.timedelta(days=3)


@pytest.fixture
def booked(location, practitioner):
    patient = PatientFactory(
        location=location, first_name="Jane", last_name="Doe", reminder_opt_in=True, reminder_channel="email"
    )
    return SessionFactory(patient=patient, practitioner=practitioner, starts_at=START)


@pytest.fixture
def template():
    return consent_template()


def url(session) -> str:
    return f"/treatments/i/{links.intake_token(session.pk)}/"


def submit(session, template, **overrides):
    values = {
        "session": session,
        "answers": {"recent_procedures": True},
        "details": "Laser at the temples three weeks ago.",
        "template": template,
        "typed_name": "Jane Doe",
        "signature_data_url": signature_data_url(),
    }
    values.update(overrides)
    return intake_submit(**values)


def form_data(template, **overrides) -> dict:
    data = {
        "template": template.pk,
        "recent_procedures": "on",
        "details": "Laser at the temples three weeks ago.",
        "typed_name": "Jane Doe",
        "has_read": "on",
        "scope_treatment": "on",
        "signature": signature_data_url(),
    }
    data.update(overrides)
    return data


class TestTheMessage:
    def test_booking_queues_the_intake_email_and_the_link_is_built_at_send_time(
        self, front_desk, practitioner, location
    ):
        all_week_hours(practitioner, location)
        patient = PatientFactory(location=location, reminder_opt_in=True, reminder_channel="email")
        with time_machine.travel(NOW, tick=False):
            session = services.session_book(
                actor=front_desk,
                patient=patient,
                practitioner=practitioner,
                location=location,
                starts_at=START,
                duration_minutes=45,
                treatment_type="skin_quality",
            )
        row = Notification.objects.get(kind=NotificationKind.INTAKE_REQUEST)
        assert row.channel == "email" and row.to_address == patient.email
        assert row.dedupe_key == f"intake:session:{session.pk}"
        assert links.INTAKE_PLACEHOLDER in row.body  # nothing signed when written
        with time_machine.travel(NOW + dt.timedelta(minutes=1), tick=False):
            assert outbox.notification_send(notification_id=row.pk) == "sent"
        [message] = mail.outbox
        assert links.INTAKE_PLACEHOLDER not in message.body
        assert "health questions" in message.body and "Laser" not in message.body
        token = re.search(r"/treatments/i/([^/\s]+)/", message.body).group(1)
        with time_machine.travel(NOW + dt.timedelta(minutes=2), tick=False):
            assert links.intake_session_id_from_token(token) == session.pk

    def test_sms_patients_get_the_link_in_the_text(self, location, practitioner, settings):
        from tests.clinic.test_channels import FakeSms
        from treatments.intake import intake_request_queue

        settings.SMS_BACKEND = "tests.clinic.test_channels.FakeSms"
        FakeSms.sent = []
        patient = PatientFactory(
            location=location, reminder_opt_in=True, reminder_channel="sms", phone="+441134960123"
        )
        session = SessionFactory(patient=patient, practitioner=practitioner, starts_at=START)
        with time_machine.travel(NOW, tick=False):
            row = intake_request_queue(session=session)
            assert row is not None and row.channel == "sms" and links.INTAKE_PLACEHOLDER in row.body
            assert outbox.notification_send(notification_id=row.pk) == "sent"
            [sms] = FakeSms.sent
            assert f"/treatments/i/{links.intake_token(session.pk)}/" in sms["body"]

    @pytest.mark.parametrize(
        "fields", [{"reminder_opt_in": False}, {"email": ""}], ids=["not-agreed", "no-address"]
    )
    def test_no_message_without_agreement_or_address(self, location, practitioner, fields):
        from treatments.intake import intake_request_queue

        patient = PatientFactory(
            location=location, **{"reminder_opt_in": True, "reminder_channel": "email", **fields}
        )
        session = SessionFactory(patient=patient, practitioner=practitioner, starts_at=START)
        with time_machine.travel(NOW, tick=False):
            assert intake_request_queue(session=session) is None
        assert not Notification.objects.filter(kind=NotificationKind.INTAKE_REQUEST).exists()

    def test_a_cancelled_session_cancels_its_message_at_send_time(self, booked):
        from treatments.intake import intake_request_queue

        with time_machine.travel(NOW, tick=False):
            row = intake_request_queue(session=booked)
            booked.status = SessionStatus.CANCELLED
            booked.cancel_reason = "Unwell"
            booked.save()
            assert outbox.notification_send(notification_id=row.pk) == "cancelled"
        assert mail.outbox == []


class TestSubmit:
    def test_stores_answers_and_consent_marked_remote_and_audited(self, booked, template):
        with time_machine.travel(NOW, tick=False):
            submission = submit(booked, template)
        screening, consent = submission.screening, submission.consent
        assert submission.submitted_at == NOW and submission.session == booked
        assert screening.submitted_by_patient and screening.session is None and screening.recorded_by is None
        assert screening.recent_procedures and screening.answered_at == NOW
        assert consent.submitted_by_patient and consent.session == booked and consent.practitioner is None
        assert consent.template == template and consent.signed_at == NOW
        actions = set(AuditEvent.objects.filter(actor=None).values_list("action", flat=True))
        assert {"intake.submit", "screening.record", "consent.sign"} <= actions
        event = AuditEvent.objects.get(action="intake.submit")
        assert event.after["by"] == "the patient (intake link)" and event.after["consent"] == consent.pk

    def test_the_same_rules_as_at_the_clinic(self, booked, template):
        with time_machine.travel(NOW, tick=False):
            with pytest.raises(ValidationError, match="Give details"):
                submit(booked, template, details="")
            with pytest.raises(ValidationError, match="signature box is empty"):
                submit(booked, template, signature_data_url=signature_data_url(blank=True))
        assert not IntakeSubmission.objects.exists() and not Screening.objects.exists()
        assert not PatientConsent.objects.exists()

    def test_details_are_limited_in_length(self, booked, template):
        with time_machine.travel(NOW, tick=False):
            with pytest.raises(ValidationError, match="2000 characters or fewer"):
                submit(booked, template, details="x" * 2001)
            assert submit(booked, template, details="x" * 2000).screening.details == "x" * 2000
        assert Screening.objects.count() == 1

    def test_a_newer_version_published_meanwhile_is_refused(self, booked, template):
        services.consent_template_publish(actor=None, treatment_type="skin_quality", title="v2", body="New")
        with (
            time_machine.travel(NOW, tick=False),
            pytest.raises(ValidationError, match="newer version") as info,
        ):
            submit(booked, template)
        assert info.value.code == "consent_outdated"  # the patient's page words it for the patient
        assert not Screening.objects.exists()

    @pytest.mark.parametrize("status", [SessionStatus.ARRIVED, SessionStatus.CANCELLED])
    def test_closed_once_the_visit_is_under_way(self, booked, template, status):
        booked.status = status
        booked.cancel_reason = "Unwell" if status == SessionStatus.CANCELLED else ""
        booked.save()
        with time_machine.travel(NOW, tick=False), pytest.raises(ValidationError) as info:
            submit(booked, template)
        assert info.value.code == "closed"

    def test_closed_at_the_start_time(self, booked, template):
        with time_machine.travel(START, tick=False), pytest.raises(ValidationError, match="has started"):
            submit(booked, template)
        assert not IntakeSubmission.objects.exists()

    def test_a_consent_without_practitioner_is_only_a_remote_one(self, booked, template):
        with pytest.raises(ValidationError, match="intake link"):
            services.consent_sign(
                actor=None,
                patient=booked.patient,
                template=template,
                typed_name="Jane Doe",
                signature_data_url=signature_data_url(),
            )


class TestAtTheVisit:
    def test_charting_waits_for_confirmation_then_uses_the_remote_consent(
        self, booked, template, practitioner, location
    ):
        with time_machine.travel(NOW, tick=False):
            submission = submit(booked, template)
        booked.status = SessionStatus.IN_TREATMENT
        booked.save()
        lot = charting_lot(location)
        with time_machine.travel(START, tick=False):
            assert (
                treatment_consent_for(booked.patient, booked.treatment_type, session=booked)
                == submission.consent
            )
            with pytest.raises(ValidationError, match="Screening has not been confirmed"):
                chart(booked, practitioner, line_input(lot))
            confirmed = services.screening_confirm(actor=practitioner, session=booked)
            assert confirmed.confirms == submission.screening and confirmed.recorded_by == practitioner
            record = chart(booked, practitioner, line_input(lot)).record
        assert record.consent == submission.consent and record.screening == confirmed

    def test_a_remote_consent_of_an_older_version_does_not_count(self, booked, template):
        with time_machine.travel(NOW, tick=False):
            submit(booked, template)
        services.consent_template_publish(actor=None, treatment_type="skin_quality", title="v2", body="New")
        with time_machine.travel(START, tick=False):
            assert treatment_consent_for(booked.patient, booked.treatment_type, session=booked) is None

    def test_a_remote_consent_counts_only_for_the_session_it_was_signed_for(
        self, booked, template, practitioner, location
    ):
        with time_machine.travel(NOW, tick=False):
            submission = submit(booked, template)
            services.session_cancel(actor=practitioner, session=booked, reason="Unwell")
        later = SessionFactory(
            patient=booked.patient, practitioner=practitioner, starts_at=START + dt.timedelta(days=7)
        )
        lot = charting_lot(location)
        with time_machine.travel(later.starts_at, tick=False):
            later.status = SessionStatus.IN_TREATMENT
            later.save()
            services.screening_confirm(actor=practitioner, session=later)
            assert treatment_consent_for(later.patient, later.treatment_type, session=later) is None
            assert treatment_consent_for(later.patient, later.treatment_type) is None  # no session: none
            with pytest.raises(ValidationError, match="does not cover this treatment type"):
                chart(later, practitioner, line_input(lot))
            assert (
                treatment_consent_for(booked.patient, booked.treatment_type, session=booked)
                == submission.consent
            )
            # Signed at the clinic, with the practitioner: any session of the type, as before.
            clinic = sign_consent(later.patient, practitioner)
            assert treatment_consent_for(later.patient, later.treatment_type, session=later) == clinic
            assert chart(later, practitioner, line_input(lot)).record.consent == clinic

    def test_the_practitioner_sees_what_was_sent_and_when(self, client_for, booked, template, practitioner):
        with time_machine.travel(NOW, tick=False):
            submit(booked, template)
        body = client_for(practitioner).get(f"/treatments/sessions/{booked.pk}/").content.decode()
        assert "Sent by the patient before the visit" in body
        assert "Answered by the patient remotely" in body and "Laser at the temples" in body
        assert "counts for this session" in body
        assert "Patient confirms answers unchanged" in body  # the in-person confirmation is still asked

    def test_the_front_desk_sees_none_of_it(self, client_for, booked, template, front_desk):
        with time_machine.travel(NOW, tick=False):
            submit(booked, template)
        body = client_for(front_desk).get(f"/treatments/sessions/{booked.pk}/").content.decode()
        assert "Sent by the patient" not in body and "Laser" not in body

    def test_session_page_query_count_does_not_grow_with_submissions(
        self, client_for, booked, template, practitioner, django_assert_num_queries
    ):
        c = client_for(practitioner)
        page = f"/treatments/sessions/{booked.pk}/"
        with time_machine.travel(NOW, tick=False):
            submit(booked, template)
            c.get(page)
            with django_assert_num_queries(13):
                c.get(page)
            submit(booked, template)
            submit(booked, template)
            with django_assert_num_queries(13):
                c.get(page)


class TestPage:
    def test_shows_the_forms_and_consent_text_and_nothing_else(self, client, booked, template):
        with time_machine.travel(NOW, tick=False):
            submit(booked, template, details="Takes warfarin daily", answers={"recent_procedures": True})
            response = client.get(url(booked))
        assert response.status_code == 200
        body = response.content.decode()
        assert "Hello Jane" in body and "Doe" not in body
        assert template.body in body and "evidence for exosome treatments is still emerging" in body
        assert "warfarin" not in body  # what was sent is not shown back
        assert "We received your answers" in body

    def test_post_stores_and_redirects(self, client, booked, template):
        with time_machine.travel(NOW, tick=False):
            response = client.post(url(booked), form_data(template))
            assert response.status_code == 302 and response.url.endswith("?sent=1")
            assert "Thank you" in client.get(response.url).content.decode()
        submission = IntakeSubmission.objects.get()
        assert submission.consent.typed_name == "Jane Doe" and submission.screening.recent_procedures

    def test_without_a_signature_it_says_so_and_stores_nothing(self, client, booked, template):
        with time_machine.travel(NOW, tick=False):
            response = client.post(url(booked), form_data(template, signature=""))
        assert response.status_code == 400
        assert "draw the signature" in response.content.decode()
        assert not IntakeSubmission.objects.exists() and not Screening.objects.exists()

    def test_huge_details_are_refused_with_a_clear_error(self, client, booked, template):
        with time_machine.travel(NOW, tick=False):
            response = client.post(url(booked), form_data(template, details="x" * 4_000_000))
        assert response.status_code == 400
        assert "Keep the details to 2000 characters or fewer (this has 4000000)" in response.content.decode()
        assert 'maxlength="2000"' in response.content.decode()
        assert not Screening.objects.exists() and not IntakeSubmission.objects.exists()
        assert not AuditEvent.objects.filter(action="screening.record").exists()

    def test_a_consent_published_while_the_patient_reads_is_shown_to_sign_again(
        self, client, booked, template
    ):
        with time_machine.travel(NOW, tick=False):
            assert f'name="template" value="{template.pk}"' in client.get(url(booked)).content.decode()
            newer = services.consent_template_publish(
                actor=None, treatment_type="skin_quality", title="v2", body="The second text."
            )
            response = client.post(url(booked), form_data(template))  # the version the page showed
            body = response.content.decode()
            assert response.status_code == 400
            assert "The consent text has been updated. Please read it and sign again." in body
            assert "must read and sign that one" not in body  # the staff's wording stays at the clinic
            assert f'name="template" value="{newer.pk}"' in body and "The second text." in body
            assert template.body not in body
            assert "Laser at the temples three weeks ago." in body  # the answers typed are kept
            assert re.search(r'name="recent_procedures"[^>]*checked', body)
            assert 'value="Jane Doe"' in body and not re.search(r'name="has_read"[^>]*checked', body)
            assert not Screening.objects.exists() and not PatientConsent.objects.exists()
            # Signing the text now shown goes through.
            assert client.post(url(booked), form_data(newer)).status_code == 302
        assert IntakeSubmission.objects.get().consent.template == newer

    def test_a_consent_published_during_the_request_is_shown_to_sign_again(self, client, booked, template):
        newer = services.consent_template_publish(
            actor=None, treatment_type="skin_quality", title="v2", body="The second text."
        )
        real = ConsentTemplate.current
        calls = []

        def stale_first(treatment_type):  # the page's own look-up still sees the older version
            calls.append(treatment_type)
            return template if len(calls) == 1 else real(treatment_type)

        with (
            time_machine.travel(NOW, tick=False),
            mock.patch.object(ConsentTemplate, "current", side_effect=stale_first),
        ):
            response = client.post(url(booked), form_data(template))
        body = response.content.decode()
        assert response.status_code == 400 and "Please read it and sign again." in body
        assert f'name="template" value="{newer.pk}"' in body and "The second text." in body
        assert not Screening.objects.exists() and not PatientConsent.objects.exists()

    @pytest.mark.parametrize("posted", ["999999", "other type", "", None, "abc"])
    def test_a_template_that_is_not_the_current_one_never_skips_the_consent(
        self, client, booked, template, posted
    ):
        if posted == "other type":
            posted = str(consent_template("hair").pk)
        data = form_data(template)
        if posted is None:
            del data["template"]
        else:
            data["template"] = posted
        with time_machine.travel(NOW, tick=False):
            response = client.post(url(booked), data)
        body = response.content.decode()
        assert response.status_code == 400 and "Please read it and sign again." in body
        assert f'name="template" value="{template.pk}"' in body
        assert not IntakeSubmission.objects.exists() and not Screening.objects.exists()
        assert not PatientConsent.objects.exists()

    def test_every_error_is_shown_at_once_in_a_summary_linking_to_the_fields(self, client, booked, template):
        data = form_data(template, details="", signature="")  # a "yes" without details, not signed
        del data["has_read"]
        with time_machine.travel(NOW, tick=False):
            response = client.post(url(booked), data)
        body = response.content.decode()
        assert response.status_code == 400
        summary = re.search(r'<div[^>]*id="error-summary".*?</div>', body, re.S).group(0)
        assert 'role="alert"' in summary and "3 things to check" in summary
        assert 'href="#id_details"' in summary and "Give details" in summary
        assert 'href="#id_has_read"' in summary
        assert 'href="#id_signature-pad"' in summary and "You have not signed yet" in summary
        assert re.search(
            r'<canvas[^>]*id="id_signature-pad"[^>]*aria-describedby="signature-error"', body, re.S
        )
        assert 'id="signature-error"' in body
        assert not Screening.objects.exists() and not IntakeSubmission.objects.exists()

    def test_a_signature_that_is_no_image_is_said_with_the_other_errors(self, client, booked, template):
        data = form_data(template, details="", signature=signature_data_url(blank=True))
        with time_machine.travel(NOW, tick=False):
            body = client.post(url(booked), data).content.decode()
        assert "Give details" in body and "signature box is empty" in body

    def test_not_having_read_the_consent_is_refused(self, client, booked, template):
        data = form_data(template)
        del data["has_read"]
        with time_machine.travel(NOW, tick=False):
            assert client.post(url(booked), data).status_code == 400
        assert not IntakeSubmission.objects.exists()

    def test_without_a_published_template_only_the_questions(self, client, booked):
        with time_machine.travel(NOW, tick=False):
            assert "signature-pad" not in client.get(url(booked)).content.decode()
            response = client.post(url(booked), {"details": ""})
        assert response.status_code == 302
        assert IntakeSubmission.objects.get().consent is None

    def test_tampered_link_is_refused(self, client, booked, template):
        token = links.intake_token(booked.pk)
        with time_machine.travel(NOW, tick=False):
            response = client.post(f"/treatments/i/{token[:-2]}xx/", form_data(template))
        assert response.status_code == 400 and "This link is not valid" in response.content.decode()
        assert not IntakeSubmission.objects.exists()

    def test_a_reminder_link_opens_no_intake(self, client, booked):
        with time_machine.travel(NOW, tick=False):
            assert client.get(f"/treatments/i/{links.respond_token(booked.pk)}/").status_code == 400
            assert client.get(f"/treatments/r/{links.intake_token(booked.pk)}/").status_code == 400
            other = signing.dumps(booked.pk, salt="something else")
            assert client.get(f"/treatments/i/{other}/").status_code == 400

    def test_older_than_the_maximum_is_expired(self, client, booked, template, settings):
        settings.PATIENT_LINK_MAX_DAYS = 1
        with time_machine.travel(NOW - dt.timedelta(days=2), tick=False):
            token = links.intake_token(booked.pk)
        with time_machine.travel(NOW, tick=False):
            response = client.post(f"/treatments/i/{token}/", form_data(template))
        assert response.status_code == 410 and "This link has expired" in response.content.decode()
        assert not IntakeSubmission.objects.exists()

    def test_expired_at_the_start_so_nothing_is_overwritten(self, client, booked, template):
        with time_machine.travel(NOW, tick=False):
            token = links.intake_token(booked.pk)
            submit(booked, template)
        with time_machine.travel(START, tick=False):
            response = client.post(f"/treatments/i/{token}/", form_data(template))
        assert response.status_code == 410
        assert IntakeSubmission.objects.count() == 1

    def test_rate_limited(self, client, booked):
        with time_machine.travel(NOW, tick=False):
            codes = [client.get(url(booked)).status_code for _ in range(31)]
        assert codes[0] == 200 and codes[-1] == 429

    def test_get_query_count_is_fixed(self, client, booked, template, django_assert_num_queries):
        with time_machine.travel(NOW, tick=False):
            client.get(url(booked))
            with django_assert_num_queries(3):
                client.get(url(booked))

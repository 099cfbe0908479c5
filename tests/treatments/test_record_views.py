"""Treatment record and timeline views: charting from the form, fixed query counts (roles: test_access)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from unittest import mock

import pytest
from django.urls import reverse
from django.utils import timezone

from clinic.roles import PRACTITIONER
from products.models import Lot
from products.services import lot_quarantine
from tests.factories import staff
from tests.products.factories import make_lot
from tests.treatments.factories import (
    PlanFactory,
    SessionFactory,
    chart,
    charted_patient_objects,
    charting_lot,
    clear_for_use,
    line_input,
    screen,
    sign_consent,
)
from treatments.injection_map import MapPoint
from treatments.models import Screening, SessionStatus, TreatmentRecord
from treatments.services import consent_withdraw, treatment_record_addendum, treatment_record_sign

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(location, other_location, practitioner):
    other_prac = staff(PRACTITIONER, other_location, username="prac_other")
    return {
        "own": charted_patient_objects(location, practitioner, "Dora"),
        "other": charted_patient_objects(other_location, other_prac, "Ola"),
    }


def post_data(lot, *, lines: int = 1, **line):
    """The record form as a practitioner posts it: one line taking a sealed vial of ``lot``."""
    data = {
        "action": "save",
        "screening_confirmed": "on",
        "consent_checked": "on",
        "combined_procedure": "microneedling",
        "combined_settings": "1.0 mm",
        "anaesthesia": "topical",
        "post_care": "SPF, no make-up 24 h",
        "line-TOTAL_FORMS": str(lines),
        "line-INITIAL_FORMS": "0",
        "line-MIN_NUM_FORMS": "0",
        "line-MAX_NUM_FORMS": "8",
        "line-0-product": str(lot.product_id),
        "line-0-take": f"lot:{lot.pk}",
        "line-0-source": "sealed",
        "line-0-vials": "1",
        "line-0-route": "intradermal",
        "line-0-areas": ["face", "neck"],
        "line-0-needle_gauge": "31",
        "line-0-volume_per_point_ml": "0.015",
    }
    data.update({f"line-0-{k}": v for k, v in line.items()})
    return data


def _url(name, session):
    return reverse(f"treatments:{name}", args=[session.pk])


def test_charting_from_the_form_offers_fefo_and_draws_stock(world, client_for, practitioner, location):
    session = world["own"]["open_session"]
    later = world["own"]["lot"]
    sooner = clear_for_use(make_lot(unit=later.storage_unit, product=later.product, quantity=4))
    Lot.objects.filter(pk=sooner.pk).update(expiry_date=later.expiry_date - dt.timedelta(days=30))
    sooner.refresh_from_db()
    client = client_for(practitioner)
    page = client.get(_url("record_edit", session))
    values = [o.value for o in page.context["choices"].options]
    assert values.index(f"lot:{sooner.pk}") < values.index(f"lot:{later.pk}")
    response = client.post(_url("record_edit", session), post_data(sooner))
    assert response.status_code == 302
    record = TreatmentRecord.objects.get(session=session)
    assert record.lines.get().areas == ["face", "neck"]
    assert Lot.objects.get(pk=sooner.pk).quantity_on_hand == 3


def test_the_first_line_starts_from_the_protocol_and_the_first_usable_lot(world, client_for, practitioner):
    session, lot = world["own"]["open_session"], world["own"]["lot"]
    page = client_for(practitioner).get(_url("record_edit", session))
    first = page.context["lines"].forms[0]
    assert first.initial["take"] == f"lot:{lot.pk}" and first.initial["product"] == str(lot.product_id)
    # The skin-quality protocol's technique (DOMAIN.md: nappage 30–32G, 0.01–0.02 mL per point).
    assert first["route"].value() == "intradermal" and first["areas"].value() == ["face"]
    assert first["needle_gauge"].value() == 31 and str(first["volume_per_point_ml"].value()) == "0.015"
    assert first["vials"].value() == 1
    html = page.content.decode()
    assert f'value="lot:{lot.pk}" checked' in html
    # One line is shown; more are added on demand.
    assert len(page.context["lines"].forms) == 1


def test_an_opened_vial_of_the_product_is_offered_before_a_new_one(world, client_for, practitioner):
    from products.services import vial_open

    session, lot = world["own"]["open_session"], world["own"]["lot"]
    vial = vial_open(lot=lot, actor=practitioner)
    page = client_for(practitioner).get(_url("record_edit", session))
    options = page.context["choices"].options
    assert options[0].value == f"vial:{vial.pk}" and options[1].value == f"lot:{lot.pk}"
    first = page.context["lines"].forms[0]
    assert first.initial["take"] == f"vial:{vial.pk}"
    html = page.content.decode()
    assert "Opened vial" in html and "left" in html
    # Drawing from it: the volume, no sealed vial.
    data = post_data(lot, take=f"vial:{vial.pk}", volume_ml="0.5", vials="")
    response = client_for(practitioner).post(_url("record_edit", session), data)
    assert response.status_code == 302, response.context["form"].errors
    line = TreatmentRecord.objects.get(session=session).lines.get()
    assert line.source == "opened" and line.opened_vial_id == vial.pk and line.vials == 0


def test_a_scanned_gs1_string_selects_the_lot(world, client_for, practitioner):
    session, lot = world["own"]["open_session"], world["own"]["lot"]
    scan = f"(17){lot.expiry_date:%y%m%d}(10){lot.lot_number}"
    data = post_data(lot, scan=scan, take="")
    response = client_for(practitioner).post(_url("record_edit", session), data)
    assert response.status_code == 302
    assert TreatmentRecord.objects.get(session=session).lines.get().lot == lot


def test_a_refusal_keeps_the_form_and_saves_nothing(world, client_for, practitioner, manager):
    session, lot = world["own"]["open_session"], world["own"]["lot"]
    before = Lot.objects.get(pk=lot.pk).quantity_on_hand
    lot_quarantine(lot=lot, actor=manager, reason="Excursion")  # after the form was opened
    response = client_for(practitioner).post(_url("record_edit", session), post_data(lot))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Nothing was saved" in html and "quarantined" in html
    assert not TreatmentRecord.objects.filter(session=session).exists()
    assert Lot.objects.get(pk=lot.pk).quantity_on_hand == before
    # The refused lot is not offered again, nor left chosen.
    line = response.context["lines"].forms[0]
    assert line.current_take == ""
    assert f'value="lot:{lot.pk}"' not in html


def test_an_uncleared_lot_is_not_offered_and_says_why(world, client_for, practitioner):
    session = world["own"]["open_session"]
    with mock.patch(
        "products.compliance.lot_clearance_problems", return_value=["No CE certificate on file."]
    ):
        page = client_for(practitioner).get(_url("record_edit", session))
    assert page.context["choices"].options == []
    assert "No CE certificate on file." in page.content.decode()


def test_warnings_are_shown_after_saving(world, client_for, practitioner):
    session, lot = world["own"]["open_session"], world["own"]["lot"]
    response = client_for(practitioner).post(
        _url("record_edit", session),
        post_data(lot, volume_per_point_ml="0.1", needle_gauge="27"),
        follow=True,
    )
    html = response.content.decode()
    assert "outside the usual 0.01–0.02 mL" in html
    assert "27G is outside the usual" in html


def test_a_signed_record_redirects_to_its_page_and_shows_addenda(world, client_for, practitioner):
    signed = world["own"]["signed"]
    treatment_record_addendum(actor=practitioner, record=signed, reason="Typo", text="Depth was 1.5 mm.")
    client = client_for(practitioner)
    response = client.get(reverse("treatments:record_edit", args=[signed.session_id]))
    assert response.status_code == 302
    html = client.get(reverse("treatments:record_detail", args=[signed.pk])).content.decode()
    assert "Depth was 1.5 mm." in html and "locked" in html


def test_record_detail_query_count_is_fixed(
    world, client_for, manager, practitioner, django_assert_num_queries
):
    signed = world["own"]["signed"]
    client = client_for(manager)
    url = reverse("treatments:record_detail", args=[signed.pk])
    treatment_record_addendum(actor=practitioner, record=signed, reason="a", text="b")
    client.get(url)
    with django_assert_num_queries(11, info="one addendum"):
        client.get(url)
    for i in range(4):
        treatment_record_addendum(actor=practitioner, record=signed, reason=f"r{i}", text="t")
    with django_assert_num_queries(11, info="five addenda"):
        client.get(url)


def _history(patient, practitioner, lot, sessions: int) -> None:
    """Add ``sessions`` months of history: a signed treatment, a screening, a cancelled visit."""
    for k in range(sessions):
        when = timezone.now() - dt.timedelta(days=30 * (k + 2))
        s = SessionFactory(
            patient=patient, practitioner=practitioner, status=SessionStatus.IN_TREATMENT, starts_at=when
        )
        # Answered at that visit, as the clinic does: stamped "now" instead, fifteen
        # screenings would fill the newest page whatever the hour of the run.
        screening = screen(patient, practitioner, session=s)
        Screening.objects.filter(pk=screening.pk).update(answered_at=when)
        # Each with its injection map, drawn on the timeline from the prefetched points.
        points = [MapPoint("face_front", Decimal("0.3"), Decimal("0.4"), Decimal("0.02"))] * (k + 1)
        record = chart(s, practitioner, line_input(lot, map_points=points)).record
        treatment_record_sign(actor=practitioner, record=record)
        treatment_record_addendum(
            actor=practitioner, record=record, reason="late note", text="Fine at review"
        )
        SessionFactory(
            patient=patient,
            practitioner=practitioner,
            status=SessionStatus.CANCELLED,
            starts_at=when + dt.timedelta(days=3),
        )


def test_timeline_query_count_is_constant_as_history_grows(
    world, client_for, practitioner, manager, django_assert_num_queries, django_assert_max_num_queries
):
    own = world["own"]
    patient, lot = own["patient"], charting_lot(own["patient"].location, quantity=40)
    PlanFactory(patient=patient)
    consent = patient.consents.first()
    consent_withdraw(actor=practitioner, consent=consent, scopes=["treatment"], reason="test")
    sign_consent(patient, practitioner)
    client = client_for(manager)
    url = reverse("treatments:patient_timeline", args=[patient.pk])
    _history(patient, practitioner, lot, 3)
    client.get(url)
    with django_assert_num_queries(19, info="3 months of history"):
        response = client.get(url)
    kinds_small = {item.kind for item in response.context["page"].object_list}
    _history(patient, practitioner, lot, 12)
    with django_assert_num_queries(19, info="15 months of history"):
        response = client.get(url)
    page = response.context["page"]
    assert {item.kind for item in page.object_list} >= kinds_small
    assert page.paginator.count > 40 and page.paginator.num_pages >= 3
    # Page 3 too, no more than the first page.
    with django_assert_max_num_queries(19, info="page 3"):
        client.get(url + "?page=3")


def test_timeline_is_newest_first_and_shows_lots_and_plan(world, client_for, practitioner):
    own = world["own"]
    PlanFactory(patient=own["patient"])
    response = client_for(practitioner).get(reverse("treatments:patient_timeline", args=[own["patient"].pk]))
    items = response.context["page"].object_list
    times = [item.at for item in items]
    assert times == sorted(times, reverse=True)
    kinds = {item.kind for item in items}
    assert {"treatment", "consent", "screening", "plan", "session"} <= kinds
    html = response.content.decode()
    assert f"lot {own['lot'].lot_number}" in html
    assert "Induction" in html


def test_record_form_query_count_does_not_grow_with_the_lots_in_stock(
    world, client_for, practitioner, location, django_assert_num_queries
):
    from products.services import vial_open

    url = _url("record_edit", world["own"]["open_session"])
    client = client_for(practitioner)
    client.get(url)
    with django_assert_num_queries(13, info="one lot"):
        client.get(url)
    for _ in range(5):
        lot = charting_lot(location, quantity=3)
    vial_open(lot=lot, actor=practitioner)
    with django_assert_num_queries(13, info="six lots and an opened vial"):
        response = client.get(url)
    assert len(response.context["offers"]) >= 6 and len(response.context["choices"].vials) == 1


def test_a_scanned_lot_not_recorded_here_is_explained_and_nothing_is_chosen(world, client_for, practitioner):
    session, lot = world["own"]["open_session"], world["own"]["lot"]
    data = post_data(lot, scan="(10)NOT-HERE")  # and the first lot still ticked
    response = client_for(practitioner).post(_url("record_edit", session), data)
    assert response.status_code == 200
    assert "No lot NOT-HERE is recorded here" in response.content.decode()
    assert response.context["lines"].forms[0].current_take == ""
    assert not TreatmentRecord.objects.filter(session=session).exists()


# --- At the chair: the scan look-up, the live check, Enter, more lines ------------------------


def test_the_scan_look_up_selects_a_good_lot_and_explains_a_quarantined_one(
    world, client_for, practitioner, manager
):
    session, lot = world["own"]["open_session"], world["own"]["lot"]
    client = client_for(practitioner)
    good = client.get(_url("record_scan", session), {"code": f"(10){lot.lot_number}"}).json()
    assert good["ok"] and good["take"] == f"lot:{lot.pk}" and good["product"] == str(lot.product_id)
    lot_quarantine(lot=lot, actor=manager, reason="Excursion")
    bad = client.get(_url("record_scan", session), {"code": f"(10){lot.lot_number}"}).json()
    assert not bad["ok"] and bad["reason"] == "quarantined" and "take" not in bad
    assert "quarantined (Excursion)" in bad["message"]


def test_the_scan_look_up_refuses_another_product_than_the_lines(world, client_for, practitioner, location):
    session, lot = world["own"]["open_session"], world["own"]["lot"]
    other = charting_lot(location)
    answer = (
        client_for(practitioner)
        .get(_url("record_scan", session), {"code": lot.lot_number, "product": str(other.product_id)})
        .json()
    )
    assert answer["reason"] == "other_product" and not answer["ok"]


def test_the_scan_look_up_does_not_see_another_locations_lots(world, client_for, practitioner):
    session, theirs = world["own"]["open_session"], world["other"]["lot"]
    answer = client_for(practitioner).get(_url("record_scan", session), {"code": theirs.lot_number}).json()
    assert not answer["ok"] and answer["reason"] == "unknown"


def test_a_refused_scan_on_saving_leaves_no_lot_chosen_and_saves_nothing(
    world, client_for, practitioner, manager, location
):
    session, lot = world["own"]["open_session"], world["own"]["lot"]
    held = charting_lot(location)
    lot_quarantine(lot=held, actor=manager, reason="Excursion")
    # The first lot is still ticked, as the page offered it; the box scanned is the held one.
    data = post_data(lot, scan=f"(10){held.lot_number}", product=str(held.product_id))
    response = client_for(practitioner).post(_url("record_edit", session), data)
    assert response.status_code == 200
    line = response.context["lines"].forms[0]
    assert "quarantined" in " ".join(line.errors["scan"])
    assert line.current_take == ""
    take_list = response.content.decode().split('name="line-0-take"', 1)[1].split("</fieldset>")[0]
    assert "checked>" not in take_list
    assert not TreatmentRecord.objects.filter(session=session).exists()


def test_the_live_check_says_what_saving_would_refuse_and_saves_nothing(
    world, client_for, practitioner, django_assert_max_num_queries
):
    session, lot = world["own"]["open_session"], world["own"]["lot"]
    before = Lot.objects.get(pk=lot.pk).quantity_on_hand
    data = post_data(lot, route="scalp", areas=["scalp"], needle_gauge="27")
    data.pop("consent_checked")
    with django_assert_max_num_queries(40):
        answer = client_for(practitioner).post(_url("record_check", session), data).json()
    assert not answer["ok"]
    assert "Tick that you checked the patient's consent." in answer["general"]
    (line,) = answer["lines"]
    # One message per cause, without the "Line 1 (…)" prefix inside the line itself.
    assert any("not labelled for scalp injection" in m for m in line["refusals"]), line
    assert all(not m.startswith("Line 1") for m in line["refusals"] + line["warnings"])
    assert any("27G is outside the usual" in m for m in line["warnings"])
    assert not TreatmentRecord.objects.filter(session=session).exists()
    assert Lot.objects.get(pk=lot.pk).quantity_on_hand == before


def test_the_live_check_is_ok_for_a_record_that_saving_accepts(world, client_for, practitioner):
    session, lot = world["own"]["open_session"], world["own"]["lot"]
    client = client_for(practitioner)
    answer = client.post(_url("record_check", session), post_data(lot)).json()
    assert answer["ok"] and answer["general"] == [] and answer["lines"][0]["refusals"] == []
    assert client.post(_url("record_edit", session), post_data(lot)).status_code == 302


def test_the_live_check_reports_field_errors_and_a_session_not_attended(world, client_for, practitioner):
    from treatments.models import Session

    session, lot = world["own"]["open_session"], world["own"]["lot"]
    Session.objects.filter(pk=session.pk).update(status=SessionStatus.BOOKED)
    answer = client_for(practitioner).post(_url("record_check", session), post_data(lot, vials="two")).json()
    assert not answer["ok"]
    assert "vials" in answer["lines"][0]["errors"]
    ok_vials = client_for(practitioner).post(_url("record_check", session), post_data(lot)).json()
    assert any("only a session the patient attended" in m for m in ok_vials["general"])


def test_enter_presses_check_which_shows_the_checks_and_saves_nothing(world, client_for, practitioner):
    session, lot = world["own"]["open_session"], world["own"]["lot"]
    data = post_data(lot)
    data["action"] = "check"
    response = client_for(practitioner).post(_url("record_edit", session), data)
    assert response.status_code == 200
    assert "nothing stops this record from being saved" in response.content.decode()
    assert not TreatmentRecord.objects.filter(session=session).exists()
    # The form's first submit button is Check: Enter in a field presses it.
    html = response.content.decode()
    form = html.split('id="record-form"', 1)[1]
    assert form.index('value="check"') < form.index('value="save"')


def test_add_a_product_line_without_javascript(world, client_for, practitioner):
    session, lot = world["own"]["open_session"], world["own"]["lot"]
    data = post_data(lot)
    data["action"] = "add_line"
    response = client_for(practitioner).post(_url("record_edit", session), data)
    assert response.status_code == 200 and len(response.context["lines"].forms) == 2
    assert 'name="line-1-product"' in response.content.decode()
    assert not TreatmentRecord.objects.filter(session=session).exists()


def test_two_lines_are_saved_and_a_blank_second_line_is_skipped(world, client_for, practitioner, location):
    session, lot = world["own"]["open_session"], world["own"]["lot"]
    second = charting_lot(location)
    data = post_data(lot, lines=3)
    data |= {
        "line-1-product": str(second.product_id),
        "line-1-take": f"lot:{second.pk}",
        "line-1-source": "open_new",
        "line-1-volume_ml": "1.5",
        "line-1-route": "topical",
        "line-1-areas": ["neck"],
    }
    response = client_for(practitioner).post(_url("record_edit", session), data)
    assert response.status_code == 302, response.context["lines"].errors
    lines = list(TreatmentRecord.objects.get(session=session).lines.order_by("pk"))
    assert [(x.lot_id, x.source) for x in lines] == [(lot.pk, "sealed"), (second.pk, "open_new")]


@pytest.mark.parametrize(
    "change",
    [
        {"line-TOTAL_FORMS": "5000"},
        {"line-TOTAL_FORMS": "many"},
        {"line-TOTAL_FORMS": None},
        {"line-0-take": "lot:999999"},
        {"line-0-take": "vial:abc"},
        {"line-0-product": "999999"},
        {"line-0-scan": "x" * 201},
    ],
    ids=["too-many-lines", "not-a-number", "no-management-form", "unknown-lot", "bad-vial", "bad-product",
         "long-scan"],
)  # fmt: skip
def test_a_crafted_post_gets_a_message_not_a_500_and_saves_nothing(world, client_for, practitioner, change):
    session, lot = world["own"]["open_session"], world["own"]["lot"]
    before = Lot.objects.get(pk=lot.pk).quantity_on_hand
    data = post_data(lot)
    for key, value in change.items():
        if value is None:
            data.pop(key)
        else:
            data[key] = value
    client = client_for(practitioner)
    for action in ("save", "check", "add_line"):
        data["action"] = action
        assert client.post(_url("record_edit", session), data).status_code == 200
    assert client.post(_url("record_check", session), data).status_code == 200
    assert not TreatmentRecord.objects.filter(session=session).exists()
    assert Lot.objects.get(pk=lot.pk).quantity_on_hand == before


def test_the_live_check_says_a_lot_held_since_the_page_opened_is_unusable(
    world, client_for, practitioner, manager
):
    session, lot = world["own"]["open_session"], world["own"]["lot"]
    lot_quarantine(lot=lot, actor=manager, reason="Excursion")
    answer = client_for(practitioner).post(_url("record_check", session), post_data(lot)).json()
    assert not answer["ok"]
    assert f"lot {lot.lot_number} is quarantined; it cannot be used." in answer["lines"][0]["refusals"]


def test_the_live_check_refuses_an_opened_vial_past_its_time(world, client_for, practitioner, time_machine):
    from products.services import vial_open

    session, lot = world["own"]["open_session"], world["own"]["lot"]
    vial = vial_open(lot=lot, actor=practitioner)
    data = post_data(lot, take=f"vial:{vial.pk}", volume_ml="0.5", vials="")
    time_machine.move_to(vial.beyond_use_at + dt.timedelta(minutes=1), tick=False)
    answer = client_for(practitioner).post(_url("record_check", session), data).json()
    assert not answer["ok"]
    assert any("the opened vial was to be used by" in m for m in answer["lines"][0]["refusals"]), answer


def test_a_map_posted_with_the_line_is_saved_and_drawn_on_the_record_and_timeline(
    world, client_for, practitioner
):
    import json

    session, lot = world["own"]["open_session"], world["own"]["lot"]
    points = [
        {"view": "face_front", "x": 0.31, "y": 0.42, "volume_ml": "0.02", "depth_mm": "1.0"},
        {"view": "face_front", "x": 0.69, "y": 0.42, "volume_ml": "0.02", "depth_mm": None},
        {"view": "scalp", "x": 0.5, "y": 0.5, "volume_ml": "0.03"},
    ]
    client = client_for(practitioner)
    response = client.post(_url("record_edit", session), post_data(lot, map_points=json.dumps(points)))
    assert response.status_code == 302
    line = TreatmentRecord.objects.get(session=session).lines.get()
    assert line.points == 3 and line.map_points.count() == 3
    page = client.get(response["Location"]).content.decode()
    assert "Injection map · line 1" in page and "Face, front" in page and "Scalp, from above" in page
    assert 'cx="93' in page  # 0.31 × 300
    timeline = client.get(reverse("treatments:patient_timeline", args=[session.patient_id])).content.decode()
    assert "Injection map (3 points)" in timeline


@pytest.mark.parametrize(
    "raw, message",
    [
        ("not json", "injection map"),
        ('[{"view": "face_front", "x": 2, "y": 0.5, "volume_ml": "0.02"}]', "outside the diagram"),
        (
            '[{"view": "elbow", "x": 0.2, "y": 0.5, "volume_ml": "0.02"}]',
            "a diagram this clinic does not know",
        ),
    ],
)
def test_a_broken_map_is_refused_with_a_reason_and_nothing_is_saved(
    world, client_for, practitioner, raw, message
):
    session, lot = world["own"]["open_session"], world["own"]["lot"]
    response = client_for(practitioner).post(_url("record_edit", session), post_data(lot, map_points=raw))
    assert response.status_code == 200
    errors = " ".join(response.context["lines"].forms[0].errors.get("map_points", []))
    assert errors and message.lower() in errors.lower()
    assert not TreatmentRecord.objects.filter(session=session).exists()


# --- Found by the outside review ----------------------------------------------------------------


class TestFoundByReview:
    def test_points_in_the_periorbital_zone_are_refused_for_a_product_not_made_for_it(
        self, world, client_for, practitioner
    ):
        import json

        from treatments.map_regions import region_at

        session, lot = world["own"]["open_session"], world["own"]["lot"]
        assert not lot.product.periorbital_suitable
        eye = next(
            (x / 100, y / 100)
            for x in range(20, 80)
            for y in range(20, 50)
            if (r := region_at("face_front", x / 100, y / 100)) and r.area == "periorbital"
        )
        points = [{"view": "face_front", "x": eye[0], "y": eye[1], "volume_ml": "0.015"}]
        # The areas say only "face": the map says where the product went.
        data = post_data(lot, map_points=json.dumps(points), areas=["face"])
        client = client_for(practitioner)
        answer = client.post(_url("record_check", session), data).json()
        assert any("periorbital" in m for m in answer["lines"][0]["refusals"]), answer
        assert client.post(_url("record_edit", session), data).status_code == 200
        assert not TreatmentRecord.objects.filter(session=session).exists()

    def test_a_map_point_adds_its_area_to_the_line(self, world, client_for, practitioner):
        import json

        session, lot = world["own"]["open_session"], world["own"]["lot"]
        points = [{"view": "scalp", "x": 0.5, "y": 0.5, "volume_ml": "0.03"}]
        data = post_data(lot, map_points=json.dumps(points), areas=["face"])
        assert client_for(practitioner).post(_url("record_edit", session), data).status_code == 302
        assert TreatmentRecord.objects.get(session=session).lines.get().areas == ["face", "scalp"]

    def test_a_scanned_box_whose_lot_has_an_opened_vial_selects_the_vial(
        self, world, client_for, practitioner
    ):
        from products.services import vial_open

        session, lot = world["own"]["open_session"], world["own"]["lot"]
        vial = vial_open(lot=lot, actor=practitioner)
        answer = client_for(practitioner).get(_url("record_scan", session), {"code": lot.lot_number}).json()
        assert answer["ok"] and answer["take"] == f"vial:{vial.pk}"
        data = post_data(lot, scan=lot.lot_number, take="", volume_ml="0.5", vials="")
        response = client_for(practitioner).post(_url("record_edit", session), data)
        assert response.status_code == 302
        assert TreatmentRecord.objects.get(session=session).lines.get().opened_vial_id == vial.pk

    def test_opening_a_new_vial_while_one_is_in_use_is_warned(self, world, client_for, practitioner):
        from products.services import vial_open

        session, lot = world["own"]["open_session"], world["own"]["lot"]
        vial_open(lot=lot, actor=practitioner)
        data = post_data(lot, source="open_new", volume_ml="0.5", vials="")
        answer = client_for(practitioner).post(_url("record_check", session), data).json()
        assert any("draw from it before opening another" in w for w in answer["lines"][0]["warnings"])

    def test_two_lines_that_together_take_more_than_the_lot_holds_are_refused_by_the_check(
        self, world, client_for, practitioner
    ):
        session, lot = world["own"]["open_session"], world["own"]["lot"]
        on_hand = Lot.objects.get(pk=lot.pk).quantity_on_hand
        data = post_data(lot, lines=2, vials=str(on_hand))  # every vial on line 1 …
        second = {
            k.replace("line-0-", "line-1-"): v for k, v in post_data(lot).items() if k.startswith("line-0-")
        }
        data |= second  # … and one more on line 2
        answer = client_for(practitioner).post(_url("record_check", session), data).json()
        assert not answer["ok"]
        assert any("take" in m and "together" in m for m in answer["lines"][1]["refusals"]), answer

    @pytest.mark.parametrize("volume", ["0", "-5"])
    def test_a_sealed_line_with_no_volume_is_refused_by_the_check_in_words(
        self, world, client_for, practitioner, volume
    ):
        session, lot = world["own"]["open_session"], world["own"]["lot"]
        data = post_data(lot, volume_ml=volume)
        answer = client_for(practitioner).post(_url("record_check", session), data).json()
        assert any("volume used must be above zero" in m for m in answer["lines"][0]["refusals"])
        response = client_for(practitioner).post(_url("record_edit", session), data)
        assert "volume used must be above zero" in response.content.decode()
        assert "Constraint" not in response.content.decode()

    @pytest.mark.parametrize("product", ["²", "٣", "-1", "1e3"])
    def test_the_scan_look_up_ignores_a_product_that_is_not_a_number(
        self, world, client_for, practitioner, product
    ):
        session, lot = world["own"]["open_session"], world["own"]["lot"]
        response = client_for(practitioner).get(
            _url("record_scan", session), {"code": lot.lot_number, "product": product}
        )
        assert response.status_code == 200 and response.json()["ok"]

    def test_an_absurd_number_of_points_is_refused(self, world, client_for, practitioner):
        session, lot = world["own"]["open_session"], world["own"]["lot"]
        for points in ("2147483648", "5000"):
            response = client_for(practitioner).post(
                _url("record_edit", session), post_data(lot, points=points)
            )
            assert response.status_code == 200
        assert not TreatmentRecord.objects.filter(session=session).exists()

    def test_without_javascript_a_scan_shows_its_product_and_is_then_spent(
        self, world, client_for, practitioner
    ):
        session, lot = world["own"]["open_session"], world["own"]["lot"]
        data = post_data(lot, scan=lot.lot_number, take="", product="")
        data["action"] = "check"
        response = client_for(practitioner).post(_url("record_edit", session), data)
        line = response.context["lines"].forms[0]
        assert line["product"].value() == str(lot.product_id) and line["scan"].value() == ""
        assert line.current_take == f"lot:{lot.pk}"

    def test_a_failed_save_always_says_nothing_was_saved(self, world, client_for, practitioner):
        session, lot = world["own"]["open_session"], world["own"]["lot"]
        response = client_for(practitioner).post(
            _url("record_edit", session), post_data(lot, scan="(10)NOPE")
        )
        assert "Nothing was saved." in response.content.decode()

"""Networked loggers: tokens, their pages, the JSON batch reader and the endpoint's answers.

Most endpoint tests stand a small fake in for the import service (``fake_import``), so they
test what the endpoint decides (who is let in, what is read, what is answered) on their own.
The tests in ``TestEndToEnd`` run the real importer (``readings_import_parsed``, and
``analyse`` for CSV): idempotency, the logger clock, refusals and excursions.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
from decimal import Decimal

import pytest
import time_machine
from django.core.cache import caches
from django.core.exceptions import ValidationError
from django.test import Client, RequestFactory

from clinic.models import AuditEvent
from products import loggerfiles
from products.feeds import MAX_BODY_BYTES, MAX_READINGS, RATE_CACHE, FeedBodyError, parse_json_batch
from products.loggerfiles import LoggerFile, Question, Sample
from products.models import (
    ImportChannel,
    LoggerClock,
    LoggerFeedToken,
    ReadingImport,
    TemperatureReading,
)
from products.services import ImportResult, readings
from products.services.feeds import feed_token_authenticate, feed_token_create, feed_token_revoke
from products.views.feeds import feed_readings
from tests.products.factories import StorageUnitFactory

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 3, 28, 12, 0, tzinfo=dt.UTC)
UTC = dt.UTC


# The end-to-end tests: they wait for the real import service (issue 14). Remove after merging.
@pytest.fixture(autouse=True)
def _frozen(time_machine):
    time_machine.move_to(NOW, tick=False)


@pytest.fixture(autouse=True)
def _fresh_rate_counters():
    """The counters live in a per-process cache; a test never sees another's."""
    caches[RATE_CACHE].clear()
    yield
    caches[RATE_CACHE].clear()


@pytest.fixture
def token(unit, manager):
    row, plaintext = feed_token_create(unit=unit, name="Wi-Fi logger", actor=manager)
    return row, plaintext


def url(unit_or_pk) -> str:
    pk = getattr(unit_or_pk, "pk", unit_or_pk)
    return f"/products/units/{pk}/feed/readings"


def batch(*readings) -> bytes:
    return json.dumps({"readings": list(readings)}).encode()


def push(client, unit_or_pk, body: bytes, plaintext: str | None, content_type="application/json", **extra):
    if plaintext is not None:
        extra.setdefault("HTTP_AUTHORIZATION", f"Bearer {plaintext}")
    extra.setdefault("CONTENT_TYPE", content_type)  # the test client drops it for an empty body
    return client.post(url(unit_or_pk), data=body, content_type=content_type, **extra)


class FakeImport:
    """Stands in for readings_import_parsed: records its calls, stores a batch row, and answers
    as the real one is specified to (refused when a line is refused, pending with questions,
    "already imported" for the same hash twice)."""

    def __init__(self):
        self.calls = []

    def __call__(self, *, unit, parsed, sha256, filename, actor, channel, file_name=""):
        samples = list(parsed.samples())
        self.calls.append(
            {"unit": unit, "parsed": parsed, "samples": samples, "sha256": sha256, "filename": filename,
             "actor": actor, "channel": channel}
        )  # fmt: skip
        existing = ReadingImport.objects.filter(storage_unit=unit, sha256=sha256, status="imported").first()
        if existing is not None:
            return ImportResult(batch=existing, added=0, already_imported=True)
        status = "refused" if parsed.refused_count else "pending" if parsed.questions else "imported"
        row = ReadingImport.objects.create(
            storage_unit=unit, sha256=sha256, filename=filename, status=status, channel=channel,
            lines=parsed.lines, rows=parsed.readings, refused=parsed.refused_count,
            added=len(samples) if status == "imported" else 0,
            summary={"refused_lines": [{"line": n.line, "reason": n.reason} for n in parsed.refused]},
        )  # fmt: skip
        return ImportResult(batch=row, added=row.added)


@pytest.fixture
def fake_import(monkeypatch):
    fake = FakeImport()
    monkeypatch.setattr(readings, "readings_import_parsed", fake)
    return fake


# --- Tokens ---------------------------------------------------------------------------------


class TestTokens:
    def test_only_the_digest_of_a_new_token_is_stored(self, unit, manager):
        row, plaintext = feed_token_create(unit=unit, name="  Gateway 1 ", actor=manager)
        row.refresh_from_db()
        assert len(plaintext) >= 43  # 256 bits, URL-safe
        assert row.digest == hashlib.sha256(plaintext.encode()).hexdigest()
        assert row.prefix == plaintext[:8] and row.name == "Gateway 1"
        stored = [str(v) for v in LoggerFeedToken.objects.filter(pk=row.pk).values().get().values()]
        assert plaintext not in stored
        event = AuditEvent.objects.get(action="feed_token.create")
        assert event.actor == manager and event.location_id == unit.location_id
        assert plaintext not in json.dumps(event.after)

    def test_two_tokens_differ(self, unit, manager):
        (_, one), (_, two) = (feed_token_create(unit=unit, name=n, actor=manager) for n in ("a", "b"))
        assert one != two

    def test_a_token_needs_a_name(self, unit, manager):
        with pytest.raises(ValidationError):
            feed_token_create(unit=unit, name="   ", actor=manager)
        assert not LoggerFeedToken.objects.exists()

    def test_the_live_token_of_its_unit_authenticates(self, unit, token):
        row, plaintext = token
        assert feed_token_authenticate(unit=unit, raw=plaintext) == row
        assert feed_token_authenticate(unit=unit.pk, raw=plaintext) == row

    def test_anything_else_does_not(self, unit, other_unit, token, manager):
        row, plaintext = token
        assert feed_token_authenticate(unit=unit, raw=plaintext[:-1] + "x") is None
        assert feed_token_authenticate(unit=unit, raw=row.digest) is None  # the digest is no token
        assert feed_token_authenticate(unit=unit, raw="") is None
        assert feed_token_authenticate(unit=unit, raw="x" * 10_000) is None
        assert feed_token_authenticate(unit=other_unit, raw=plaintext) is None
        assert feed_token_authenticate(unit=999_999, raw=plaintext) is None
        feed_token_revoke(token=row, actor=manager)
        assert feed_token_authenticate(unit=unit, raw=plaintext) is None

    def test_last_used_is_noted_at_most_once_a_minute(self, unit, token, time_machine):
        row, plaintext = token
        feed_token_authenticate(unit=unit, raw=plaintext)
        row.refresh_from_db()
        assert row.last_used_at == NOW
        time_machine.move_to(NOW + dt.timedelta(seconds=30), tick=False)
        feed_token_authenticate(unit=unit, raw=plaintext)
        row.refresh_from_db()
        assert row.last_used_at == NOW
        time_machine.move_to(NOW + dt.timedelta(minutes=2), tick=False)
        feed_token_authenticate(unit=unit, raw=plaintext)
        row.refresh_from_db()
        assert row.last_used_at == NOW + dt.timedelta(minutes=2)

    def test_revoking_is_audited_once(self, token, manager):
        row, _ = token
        feed_token_revoke(token=row, actor=manager)
        feed_token_revoke(token=row, actor=manager)
        row.refresh_from_db()
        assert row.revoked_at == NOW and row.revoked_by == manager and not row.is_active
        assert AuditEvent.objects.filter(action="feed_token.revoke").count() == 1


# --- The managers' pages --------------------------------------------------------------------


class TestTokenPages:
    def test_a_new_token_is_shown_once_with_the_address_and_an_example(self, client_for, manager, unit):
        client = client_for(manager)
        response = client.post(f"/products/units/{unit.pk}/feed/", {"name": "Wi-Fi logger"})
        assert response.status_code == 200 and "no-store" in response["Cache-Control"]
        row = LoggerFeedToken.objects.get(storage_unit=unit)
        plaintext = response.context["plaintext"]
        assert row.digest == hashlib.sha256(plaintext.encode()).hexdigest()
        assert plaintext in response.text
        assert f"http://testserver{url(unit)}" in response.text and "curl -X POST" in response.text
        again = client.get(f"/products/units/{unit.pk}/feed/")
        assert plaintext not in again.text and row.prefix in again.text

    def test_a_blank_name_is_refused_on_the_form(self, client_for, manager, unit):
        response = client_for(manager).post(f"/products/units/{unit.pk}/feed/", {"name": ""})
        assert response.status_code == 200 and response.context["form"].errors
        assert not LoggerFeedToken.objects.exists()

    @pytest.mark.parametrize("extra", [0, 4])
    def test_the_list_costs_the_same_queries_with_more_tokens(
        self, client_for, manager, unit, django_assert_num_queries, extra
    ):
        client = client_for(manager)
        for n in range(1 + extra):
            row, _ = feed_token_create(unit=unit, name=f"Logger {n}", actor=manager)
            if n % 2:
                feed_token_revoke(token=row, actor=manager)
        client.get("/")  # the session and user are loaded once before counting
        with django_assert_num_queries(7):
            response = client.get(f"/products/units/{unit.pk}/feed/")
        assert response.status_code == 200 and response.text.count("<code>") >= 1 + extra

    def test_revoking_asks_then_revokes(self, client_for, manager, unit, token):
        row, plaintext = token
        client = client_for(manager)
        confirm = client.get(f"/products/units/{unit.pk}/feed/{row.pk}/revoke/")
        assert confirm.status_code == 200 and "stops working at once" in confirm.text
        row.refresh_from_db()
        assert row.is_active
        response = client.post(f"/products/units/{unit.pk}/feed/{row.pk}/revoke/")
        assert response.status_code == 302 and response["Location"] == f"/products/units/{unit.pk}/feed/"
        row.refresh_from_db()
        assert not row.is_active and feed_token_authenticate(unit=unit, raw=plaintext) is None

    def test_another_units_token_is_not_found_through_this_unit(self, client_for, manager, unit):
        spare = StorageUnitFactory(location=unit.location)
        row, _ = feed_token_create(unit=spare, name="Spare's logger", actor=manager)
        response = client_for(manager).post(f"/products/units/{unit.pk}/feed/{row.pk}/revoke/")
        assert response.status_code == 404
        row.refresh_from_db()
        assert row.is_active

    def test_the_unit_page_links_to_it_for_managers(self, client_for, manager, unit):
        assert (
            f"/products/units/{unit.pk}/feed/" in client_for(manager).get(f"/products/units/{unit.pk}/").text
        )


# --- Reading a JSON batch -------------------------------------------------------------------


def reasons(parsed: LoggerFile) -> dict[int, str]:
    return {note.line: note.reason for note in parsed.refused}


class TestJsonBatch:
    def test_readings_with_an_offset_are_exact_and_without_one_stay_wall_clock(self):
        parsed = parse_json_batch(
            batch(
                {"taken_at": "2026-03-28T01:05:00Z", "temperature_c": 4.2},
                {"taken_at": "2026-03-28T02:05:00+01:00", "temperature_c": "5"},
                {"taken_at": "2026-03-28 01:15", "temperature_f": 41},
                {"taken_at": "2026-03-28T01:20:00", "temperature_c": -3.456, "battery": 87, "rssi": -61},
            )
        )
        assert parsed.ok and parsed.lines == parsed.readings == 4 and parsed.layout == "json"
        assert list(parsed.samples()) == [
            Sample(1, dt.datetime(2026, 3, 28, 1, 5, tzinfo=UTC), Decimal("4.20")),
            Sample(
                2, dt.datetime(2026, 3, 28, 2, 5, tzinfo=dt.timezone(dt.timedelta(hours=1))), Decimal("5.00")
            ),
            Sample(3, dt.datetime(2026, 3, 28, 1, 15), Decimal("5.00")),
            Sample(4, dt.datetime(2026, 3, 28, 1, 20), Decimal("-3.46")),
        ]
        assert list(parsed.samples()) == list(parsed.samples())  # a second pass reads the same

    def test_a_reading_that_cannot_be_read_is_refused_with_its_reason(self):
        parsed = parse_json_batch(
            batch(
                {"taken_at": "2026-03-28T01:05:00Z", "temperature_c": 4.2},
                {"temperature_c": 4.2},
                {"taken_at": "yesterday", "temperature_c": 4.2},
                {"taken_at": "2026-03-28", "temperature_c": 4.2},
                {"taken_at": 1774660000, "temperature_c": 4.2},
                {"taken_at": "2026-03-28T01:05:00Z"},
                {"taken_at": "2026-03-28T01:05:00Z", "temperature_c": "warm"},
                {"taken_at": "2026-03-28T01:05:00Z", "temperature_c": True},
                {"taken_at": "2026-03-28T01:05:00Z", "temperature_c": None},
                {"taken_at": "2026-03-28T01:05:00Z", "temperature_c": -100.5},
                {"taken_at": "2026-03-28T01:05:00Z", "temperature_c": 61},
                {"taken_at": "2026-03-28T01:05:00Z", "temperature_f": 200},
                {"taken_at": "2026-03-28T01:05:00Z", "temperature_c": 4, "temperature_f": 39},
                {"taken_at": "2026-03-28T12:06:00Z", "temperature_c": 4.2},
                {"taken_at": "1999-12-31T23:59:00Z", "temperature_c": 4.2},
                ["2026-03-28T01:05:00Z", 4.2],
                {"taken_at": "2026-03-28T12:04:00Z", "temperature_c": 4.2},  # within 5 minutes: fine
            )
        )
        assert not parsed.ok and parsed.lines == 17 and parsed.refused_count == 15
        why = reasons(parsed)
        assert sorted(why) == list(range(2, 17))
        assert "taken_at is missing" in why[2]
        assert "not an ISO 8601" in why[3] and "no time of day" in why[4] and "must be a string" in why[5]
        assert "temperature_c (or temperature_f) is missing" in why[6]
        assert "“warm” is not a number" in why[7]
        assert "must be a number" in why[8] and "must be a number" in why[9]
        assert all("not a plausible temperature" in why[n] for n in (10, 11, 12))
        assert "not both" in why[13]
        assert "in the future" in why[14] and "before 2000" in why[15]
        assert "must be an object" in why[16]
        assert [s.line for s in parsed.samples()] == [1, 17]

    def test_a_wall_clock_time_is_in_the_future_by_the_units_clock(self):
        # 12:30 without an offset: in the future for a logger on UTC, past for one on UTC+2.
        body = batch({"taken_at": "2026-03-28T12:30:00", "temperature_c": 4})
        assert parse_json_batch(body, tzinfo=UTC).refused_count == 1
        assert parse_json_batch(body, tzinfo=dt.timezone(dt.timedelta(hours=2))).ok

    def test_not_a_number_or_infinity_is_refused(self):
        parsed = parse_json_batch(
            b'{"readings": [{"taken_at": "2026-03-28T01:05:00Z", "temperature_c": NaN},'
            b' {"taken_at": "2026-03-28T01:05:00Z", "temperature_c": Infinity},'
            b' {"taken_at": "2026-03-28T01:05:00Z", "temperature_c": 1e999999}]}'
        )
        assert parsed.refused_count == 3

    def test_refusals_are_listed_up_to_a_hundred_and_all_counted(self):
        parsed = parse_json_batch(batch(*({"taken_at": "soon"} for _ in range(250))))
        assert parsed.refused_count == 250 and len(parsed.refused) == 100

    @pytest.mark.parametrize(
        ("body", "reason"),
        [
            (b"", "not valid JSON"),
            (b"{readings: []}", "not valid JSON"),
            (b"\xff\xfe\xfd", "not valid JSON"),
            (b"[" * 100_000, "nested too deeply"),
            (b"[]", '"readings" array'),
            (b'{"data": []}', '"readings" array'),
            (b'{"readings": {"taken_at": "x"}}', "must be an array"),
            (b'{"readings": []}', "no readings"),
        ],
    )
    def test_a_body_that_is_no_batch_is_refused_whole(self, body, reason):
        with pytest.raises(FeedBodyError) as caught:
            parse_json_batch(body)
        assert reason in caught.value.message and caught.value.status == 400

    def test_too_many_readings_is_413(self):
        reading = {"taken_at": "2026-03-28T01:05:00Z", "temperature_c": 4}
        with pytest.raises(FeedBodyError) as caught:
            parse_json_batch(batch(*[reading] * (MAX_READINGS + 1)))
        assert caught.value.status == 413


# --- The endpoint ---------------------------------------------------------------------------

GOOD = batch(
    {"taken_at": "2026-03-28T01:05:00Z", "temperature_c": 4.2},
    {"taken_at": "2026-03-28T01:10:00Z", "temperature_c": 4.4},
)


class TestRefusals:
    def assert_401(self, response):
        assert response.status_code == 401
        assert response["WWW-Authenticate"].startswith("Bearer")
        assert response.json() == {
            "error": "Send a live token of this storage unit: Authorization: Bearer <token>."
        }

    def test_a_missing_or_bad_token_is_401_and_the_same_for_all(
        self, client, unit, other_unit, token, manager, fake_import
    ):
        row, plaintext = token
        _, other_plaintext = feed_token_create(unit=other_unit, name="Other", actor=manager)
        self.assert_401(push(client, unit, GOOD, None))
        self.assert_401(push(client, unit, GOOD, None, HTTP_AUTHORIZATION=f"Basic {plaintext}"))
        self.assert_401(push(client, unit, GOOD, None, HTTP_AUTHORIZATION="Bearer"))
        self.assert_401(push(client, unit, GOOD, plaintext[:-2] + "zz"))
        self.assert_401(push(client, unit, GOOD, other_plaintext))  # another unit's token
        self.assert_401(push(client, 999_999, GOOD, plaintext))  # no such unit: the same answer
        feed_token_revoke(token=row, actor=manager)
        self.assert_401(push(client, unit, GOOD, plaintext))
        assert fake_import.calls == []

    def test_no_session_lets_anyone_in(self, client_for, manager, unit, fake_import):
        self.assert_401(push(client_for(manager), unit, GOOD, None))

    def test_it_needs_no_csrf_token(self, unit, token, fake_import):
        response = push(Client(enforce_csrf_checks=True), unit, GOOD, token[1])
        assert response.status_code == 200

    @pytest.mark.parametrize("method", ["get", "put", "delete"])
    def test_other_methods_are_405(self, client, unit, token, method):
        response = getattr(client, method)(url(unit), HTTP_AUTHORIZATION=f"Bearer {token[1]}")
        assert (
            response.status_code == 405 and response["Allow"] == "POST" and "POST" in response.json()["error"]
        )

    @pytest.mark.parametrize(
        "content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml"]
    )
    def test_another_content_type_is_415(self, client, unit, token, content_type, fake_import):
        response = push(client, unit, GOOD, token[1], content_type=content_type)
        assert response.status_code == 415 and "application/json or text/csv" in response.json()["error"]

    def test_a_declared_length_over_the_limit_is_413_without_reading(self, client, unit, token, fake_import):
        response = push(client, unit, GOOD, token[1], CONTENT_LENGTH=str(MAX_BODY_BYTES + 1))
        assert response.status_code == 413 and "over 1000000 bytes" in response.json()["error"]
        assert fake_import.calls == []

    def test_a_body_longer_than_declared_is_413_and_read_no_further(self, unit, token, fake_import):
        request = RequestFactory().post(
            url(unit), data=b"{}", content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token[1]}"
        )
        stream = io.BytesIO(b" " * (3 * MAX_BODY_BYTES))
        request._stream = stream  # a server that hands on more than Content-Length said
        response = feed_readings(request, unit.pk)
        assert response.status_code == 413
        assert stream.tell() == MAX_BODY_BYTES + 1
        assert fake_import.calls == []

    def test_more_readings_than_the_limit_is_413(self, client, unit, token, fake_import):
        reading = {"taken_at": "2026-03-28T01:05:00Z", "temperature_c": 4}
        body = json.dumps({"readings": [reading] * (MAX_READINGS + 1)}, separators=(",", ":")).encode()
        assert len(body) < MAX_BODY_BYTES
        response = push(client, unit, body, token[1])
        assert response.status_code == 413 and str(MAX_READINGS) in response.json()["error"]

    @pytest.mark.parametrize(
        ("body", "reason"),
        [
            (b"", "The body is empty."),
            (b"{not json", "not valid JSON"),
            (b'{"readings": "none"}', "must be an array"),
            (b'{"readings": []}', "no readings"),
            (b"[" * 50_000, "nested too deeply"),
        ],
    )
    def test_a_malformed_body_is_400_with_the_reason(self, client, unit, token, body, reason, fake_import):
        response = push(client, unit, body, token[1])
        assert response.status_code == 400 and reason in response.json()["error"]
        assert fake_import.calls == []

    def test_a_batch_with_a_refused_reading_is_400_listing_it(self, client, unit, token, fake_import):
        body = batch(
            {"taken_at": "2026-03-28T01:05:00Z", "temperature_c": 4.2}, {"taken_at": "2026-03-28T01:10:00Z"}
        )
        response = push(client, unit, body, token[1])
        assert response.status_code == 400
        data = response.json()
        assert data["status"] == "refused" and data["added"] == 0 and data["refused_count"] == 1
        assert data["refused"] == [{"line": 2, "reason": "temperature_c (or temperature_f) is missing."}]
        assert "Nothing from this batch was imported" in data["error"]

    def test_an_error_of_the_import_service_is_400(self, client, unit, token, monkeypatch):
        def refuse(**kwargs):
            raise ValidationError("This unit is retired.")

        monkeypatch.setattr(readings, "readings_import_parsed", refuse)
        response = push(client, unit, GOOD, token[1])
        assert response.status_code == 400 and response.json() == {"error": "This unit is retired."}


class TestRates:
    def test_a_token_past_its_rate_gets_429_until_the_next_minute(self, client, unit, token, fake_import):
        for _ in range(60):
            assert push(client, unit, GOOD, token[1]).status_code == 200
        response = push(client, unit, GOOD, token[1])
        assert response.status_code == 429 and int(response["Retry-After"]) == 60
        assert "send fewer, larger batches" in response.json()["error"]
        with time_machine.travel(NOW + dt.timedelta(seconds=61), tick=False):
            assert push(client, unit, GOOD, token[1]).status_code == 200

    def test_each_token_has_its_own_rate(self, client, unit, token, manager, fake_import):
        _, second = feed_token_create(unit=unit, name="Gateway", actor=manager)
        for _ in range(61):
            push(client, unit, GOOD, token[1])
        assert push(client, unit, GOOD, token[1]).status_code == 429
        assert push(client, unit, GOOD, second).status_code == 200

    def test_an_address_trying_bad_tokens_is_held_off_but_not_its_good_ones(
        self, client, unit, token, fake_import, time_machine
    ):
        time_machine.move_to(NOW + dt.timedelta(seconds=15), tick=False)
        for n in range(20):
            assert push(client, unit, GOOD, f"guess-{n}").status_code == 401
        held = push(client, unit, GOOD, "guess-20")
        assert held.status_code == 429 and int(held["Retry-After"]) == 45
        assert "refused tokens" in held.json()["error"]
        # A logger with a live token behind the same address still gets through.
        assert push(client, unit, GOOD, token[1]).status_code == 200
        # Another address is not held off; nor this one a minute later.
        assert push(client, unit, GOOD, "guess-21", REMOTE_ADDR="10.0.0.9").status_code == 401
        time_machine.move_to(NOW + dt.timedelta(seconds=61), tick=False)
        assert push(client, unit, GOOD, "guess-22").status_code == 401

    def test_good_tokens_do_not_count_against_the_address(self, client, unit, token, fake_import):
        for _ in range(30):
            assert push(client, unit, GOOD, token[1]).status_code == 200

    def test_a_cache_that_does_not_answer_lets_batches_through(
        self, client, unit, token, fake_import, monkeypatch
    ):
        class Broken:
            def __getattr__(self, name):
                raise ConnectionError("Redis is down")

        monkeypatch.setattr("products.feeds.caches", {RATE_CACHE: Broken()})
        assert push(client, unit, GOOD, token[1]).status_code == 200


class TestAccepted:
    def test_a_json_batch_goes_to_the_import_service_as_the_feed(self, client, unit, token, fake_import):
        row, plaintext = token
        response = push(client, unit, GOOD, plaintext, content_type="application/json; charset=utf-8")
        assert response.status_code == 200, response.content
        data = response.json()
        assert data["status"] == "imported" and data["added"] == 2 and data["lines"] == 2
        assert data["refused"] == [] and data["already_imported"] is False
        (call,) = fake_import.calls
        assert call["unit"] == unit and call["actor"] is None and call["channel"] == ImportChannel.FEED
        assert call["sha256"] == hashlib.sha256(GOOD).hexdigest()
        assert call["filename"].startswith(f"Wi-Fi logger ({row.prefix}…)")
        assert [(s.when, s.celsius) for s in call["samples"]] == [
            (dt.datetime(2026, 3, 28, 1, 5, tzinfo=UTC), Decimal("4.20")),
            (dt.datetime(2026, 3, 28, 1, 10, tzinfo=UTC), Decimal("4.40")),
        ]
        row.refresh_from_db()
        assert row.last_used_at == NOW

    def test_the_same_batch_twice_is_the_same_hash_and_adds_nothing(self, client, unit, token, fake_import):
        first = push(client, unit, GOOD, token[1]).json()
        second = push(client, unit, GOOD, token[1]).json()
        assert first["added"] == 2 and second["added"] == 0
        assert second["already_imported"] is True and second["already_held"] == 2
        assert second["batch"] == first["batch"]

    def test_a_wall_clock_time_is_checked_in_the_units_logger_clock(self, client, manager, fake_import):
        unit = StorageUnitFactory(logger_clock=LoggerClock.FIXED, logger_utc_offset_minutes=120)
        _, plaintext = feed_token_create(unit=unit, name="L", actor=manager)
        body = batch({"taken_at": "2026-03-28T13:30:00", "temperature_c": 4})  # 11:30 UTC
        assert push(client, unit, body, plaintext).status_code == 200
        assert fake_import.calls[0]["samples"][0].when == dt.datetime(2026, 3, 28, 13, 30)  # left naive

    def test_a_csv_export_goes_to_the_logger_file_reader_with_answers(
        self, client, unit, token, fake_import, monkeypatch
    ):
        seen = {}

        def analyse(fileobj, *, answers=None, **kwargs):
            seen.update(content=fileobj.read(), answers=answers)
            sample = Sample(2, dt.datetime(2026, 3, 28, 1, 5), Decimal("4.1"))
            return LoggerFile(lines=2, readings=1, header_line=1, samples=lambda: iter([sample]))

        monkeypatch.setattr(loggerfiles, "analyse", analyse, raising=False)
        body = b"Time,Temperature (C)\n28/03/2026 01:05,4.1\n"
        response = push(client, unit, body, token[1], content_type="text/csv", QUERY_STRING="date_format=dmy")
        assert response.status_code == 200 and response.json()["added"] == 1
        assert seen == {"content": body, "answers": {"date_format": "dmy"}}

    def test_a_csv_with_an_open_question_is_held_202(self, client, unit, token, fake_import, monkeypatch):
        question = Question("date_format", "Which date format?", 2, "03/04/2026 10:00", {"dmy": "3 April"})
        held = LoggerFile(lines=2, readings=1, questions=[question])
        monkeypatch.setattr(loggerfiles, "analyse", lambda f, answers=None, **kwargs: held, raising=False)
        response = push(client, unit, b"Time,Temp C\n03/04/2026 10:00,4\n", token[1], content_type="text/csv")
        assert response.status_code == 202
        data = response.json()
        assert data["status"] == "pending" and data["questions"][0]["key"] == "date_format"
        assert "?date_format=" in data["error"]

    def test_a_csv_the_reader_cannot_read_is_400(self, client, unit, token, fake_import, monkeypatch):
        def analyse(fileobj, *, answers=None, **kwargs):
            raise ValidationError("The file is not text in any encoding we know.")

        monkeypatch.setattr(loggerfiles, "analyse", analyse, raising=False)
        response = push(client, unit, b"\x00\x01", token[1], content_type="text/csv")
        assert response.status_code == 400
        assert response.json() == {"error": "The file is not text in any encoding we know."}
        assert fake_import.calls == []

    def test_a_csv_of_too_many_readings_is_413(self, client, unit, token, fake_import, monkeypatch):
        def analyse(f, answers=None, **kwargs):
            return LoggerFile(lines=1, readings=MAX_READINGS + 1)

        monkeypatch.setattr(loggerfiles, "analyse", analyse, raising=False)
        response = push(client, unit, b"Time,Temp C\n", token[1], content_type="text/csv")
        assert response.status_code == 413 and fake_import.calls == []


# --- End to end: with the real import service ------------------------------------------------


class TestEndToEnd:
    """These exercise readings_import_parsed and analyse for real."""

    def test_the_same_batch_twice_adds_nothing(self, client, unit, token):
        first = push(client, unit, GOOD, token[1])
        assert first.status_code == 200 and first.json()["added"] == 2
        second = push(client, unit, GOOD, token[1])
        assert second.status_code == 200 and second.json()["added"] == 0
        assert TemperatureReading.objects.filter(storage_unit=unit).count() == 2
        assert ReadingImport.objects.get(pk=first.json()["batch"]).channel == ImportChannel.FEED

    def test_an_overlapping_batch_adds_only_the_new_times(self, client, unit, token):
        push(client, unit, GOOD, token[1])
        overlap = batch(
            {"taken_at": "2026-03-28T02:10:00+01:00", "temperature_c": 4.4},  # 01:10 UTC again
            {"taken_at": "2026-03-28T01:15:00Z", "temperature_c": 4.5},
        )
        response = push(client, unit, overlap, token[1])
        assert response.status_code == 200
        assert response.json()["added"] == 1 and response.json()["already_held"] == 1
        assert TemperatureReading.objects.filter(storage_unit=unit).count() == 3

    def test_a_wall_clock_time_is_read_in_the_units_logger_clock(self, client, manager):
        unit = StorageUnitFactory(logger_clock=LoggerClock.UTC)
        _, plaintext = feed_token_create(unit=unit, name="L", actor=manager)
        response = push(
            client, unit, batch({"taken_at": "2026-03-28T01:05:00", "temperature_c": 4}), plaintext
        )
        assert response.status_code == 200, response.json()
        assert TemperatureReading.objects.get(storage_unit=unit).taken_at == dt.datetime(
            2026, 3, 28, 1, 5, tzinfo=UTC
        )

    def test_a_refused_batch_imports_nothing(self, client, unit, token):
        body = batch({"taken_at": "2026-03-28T01:05:00Z", "temperature_c": 4.2}, {"taken_at": "nope"})
        response = push(client, unit, body, token[1])
        assert response.status_code == 400 and response.json()["refused"][0]["line"] == 2
        assert not TemperatureReading.objects.filter(storage_unit=unit).exists()

    def test_a_reading_out_of_range_opens_an_excursion(self, client, unit, token):
        body = batch(
            {"taken_at": "2026-03-28T01:05:00Z", "temperature_c": 4.2},
            {"taken_at": "2026-03-28T01:10:00Z", "temperature_c": 11.5},
        )
        response = push(client, unit, body, token[1])
        assert response.status_code == 200 and len(response.json()["excursions_opened"]) == 1
        assert unit.excursions.open().count() == 1

    def test_a_csv_export_twice_adds_nothing(self, client, unit, token):
        body = b"Timestamp,Temperature (\xc2\xb0C)\n2026-03-28 01:05:00,4.2\n2026-03-28 01:10:00,4.3\n"
        first = push(client, unit, body, token[1], content_type="text/csv")
        assert first.status_code == 200, first.content
        assert first.json()["added"] == 2
        assert push(client, unit, body, token[1], content_type="text/csv").json()["added"] == 0


class TestFoundByReview:
    """What an outside review found, end to end with the real importer."""

    def test_a_csv_batch_that_asks_is_answered_on_its_page(self, client, client_for, manager, unit, token):
        body = b"Timestamp,Temperature (C)\n03/02/2026 10:00,5\n"
        response = push(client, unit, body, token[1], content_type="text/csv")
        assert response.status_code == 202
        batch = ReadingImport.objects.get(pk=response.json()["batch"])
        answered = client_for(manager).post(
            f"/products/imports/{batch.pk}/", {"date_format": "dmy"}, follow=True
        )
        assert answered.status_code == 200 and "1 readings added" in answered.text
        assert TemperatureReading.objects.filter(storage_unit=unit).count() == 1

    @pytest.mark.parametrize("query", ["temperature_unit=K", "date_format=ymd"])
    def test_an_answer_that_is_not_one_of_the_choices_is_400(self, client, unit, token, query):
        body = b"Timestamp,Reading\n2026-03-13 10:00,5\n"
        response = push(client, unit, body, token[1], content_type="text/csv", QUERY_STRING=query)
        assert response.status_code == 400 and "must be one of" in response.json()["error"]
        assert not TemperatureReading.objects.filter(storage_unit=unit).exists()

    def test_refused_readings_are_counted_once_and_a_missing_local_time_is_listed(
        self, client, location, manager
    ):
        unit = StorageUnitFactory(location=location, logger_clock=LoggerClock.LOCAL)
        _, plaintext = feed_token_create(unit=unit, name="L", actor=manager)
        body = batch(
            {"taken_at": "2026-03-28T01:05:00Z", "temperature_c": 4.2},
            {"taken_at": "2026-03-29T01:30:00", "temperature_c": 4.2},  # no such time in London
            {"taken_at": "nope", "temperature_c": 4.2},
        )
        data = push(client, unit, body, plaintext).json()
        assert data["status"] == "refused" and data["refused_count"] == 2
        assert [n["line"] for n in data["refused"]] == [2, 3]
        assert data["lines"] == data["rows"] + data["refused_count"]

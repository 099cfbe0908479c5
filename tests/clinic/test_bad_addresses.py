"""Addresses no page can use: a NUL byte is a 400 page, ids that cannot be ids are "not given" (issue 17)."""

from __future__ import annotations

import pytest
from django.db import connection, transaction

from clinic.forms import MAX_ID, parse_id

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1", 1),
        ("0042", 42),
        (str(MAX_ID), MAX_ID),
        (str(MAX_ID + 1), None),
        ("99999999999999999999", None),
        ("9" * 10_000, None),
        ("0", None),
        ("-1", None),
        ("+1", None),
        (" 1", None),
        ("1.0", None),
        ("1e3", None),
        ("²", None),  # a digit to str.isdigit(), not to int()
        ("١", None),  # an Arabic-Indic one: int() takes it, an id it is not
        ("", None),
        (None, None),
        (7, None),  # only query text is parsed
    ],
)
def test_parse_id(value, expected):
    assert parse_id(value) == expected


@pytest.mark.parametrize("query", ["?q=%00", "?q=a%00b", "?%00=1", "?page=1&q=%00"])
def test_a_nul_byte_in_the_query_is_the_bad_address_page(client_for, front_desk, query):
    response = client_for(front_desk).get(f"/treatments/patients/{query}")
    assert response.status_code == 400
    assert "This address cannot be read" in response.text
    assert "Go to your dashboard" in response.text  # the site's page, with its navigation


def test_a_nul_byte_is_refused_before_sign_in_too(client):
    response = client.get("/treatments/patients/?q=%00")
    assert response.status_code == 400 and "This address cannot be read" in response.text


def test_the_same_search_without_the_nul_is_answered(client_for, front_desk):
    assert client_for(front_desk).get("/treatments/patients/?q=ab").status_code == 200


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="PostgreSQL refuses NUL in text; SQLite keeps it"
)
def test_without_the_middleware_postgresql_would_answer_500(client_for, front_desk, settings):
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if m != "clinic.middleware.NulQueryMiddleware"]
    client = client_for(front_desk)
    with pytest.raises(Exception, match="NUL"), transaction.atomic():
        client.get("/treatments/patients/?q=a%00b")

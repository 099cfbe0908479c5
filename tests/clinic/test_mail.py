from __future__ import annotations

from clinic.mail import render_message


def test_a_staff_alert_renders_text_and_html_in_the_clinics_name(settings):
    settings.CLINIC_NAME = "Harley Skin"
    message = render_message(
        "staff_alert",
        {
            "subject": "Lot EXO-1 expires in 7 days",
            "body": "Use it first or plan its waste.",
            "link": "https://clinic.example/products/lots/1/",
        },
    )
    assert message.subject == "[Harley Skin] Lot EXO-1 expires in 7 days"
    assert "Use it first" in message.text and "https://clinic.example/products/lots/1/" in message.text
    assert "<html" in message.html and "Harley Skin" in message.html


def test_html_escapes_what_it_is_given():
    message = render_message("staff_alert", {"subject": "<b>x</b>", "body": "<script>alert(1)</script>"})
    assert "<script>" not in message.html

"""Sandboxed texts (SMS, activity summaries, voice messages) and inbound payloads."""

import pytest
from jinja2 import UndefinedError

from engine.texts import SAMPLE_VALUES, check_template, render_text


def test_a_payload_text_is_accepted_at_save_and_strict_at_send():
    text = "See you in {{ payload.city }} on {{ payload['date'] }}!"
    assert check_template(text) is None
    values = {**SAMPLE_VALUES, "payload": {"city": "Hamburg", "date": "3 March"}}
    assert render_text(text, values) == "See you in Hamburg on 3 March!"
    with pytest.raises(UndefinedError):
        render_text(text, {**SAMPLE_VALUES, "payload": {"city": "Hamburg"}})

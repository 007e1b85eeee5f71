"""The libraries the engine trusts with user input are releases without published
escapes: trigger texts are Jinja2 templates that marketing users write, rendered in its
sandbox (``engine.texts``)."""

import pathlib
import re

import jinja2

ROOT = pathlib.Path(__file__).resolve().parents[2]
# 3.1.5 and 3.1.6 closed sandbox breakouts through str.format (CVE-2024-56326) and
# the |attr filter (CVE-2025-27516).
JINJA2_SAFE = (3, 1, 6)


def _version(text):
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


def test_the_jinja2_in_use_has_no_known_sandbox_escape():
    assert _version(jinja2.__version__) >= JINJA2_SAFE


def test_the_requirements_pin_a_jinja2_without_known_sandbox_escapes():
    pins = re.findall(
        r"^jinja2==(\S+)$", (ROOT / "tools" / "requirements-odoo.txt").read_text(), re.I | re.M
    )
    assert len(pins) == 1
    assert _version(pins[0]) >= JINJA2_SAFE

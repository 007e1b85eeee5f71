import pytest

from engine import normalize_email


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("ada@example.com", "ada@example.com"),
        ("  Ada@Example.COM ", "ada@example.com"),
        ('"Ada L." <ada.l+news@mail.example.de>', "ada.l+news@mail.example.de"),
        ("o'brien@example.ie", "o'brien@example.ie"),
    ],
)
def test_valid_addresses_are_normalised(raw, expected):
    assert normalize_email(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        None,
        "",
        "   ",
        "ada",
        "ada@",
        "@example.com",
        "ada@example",
        "ada@@example.com",
        "ada@exa mple.com",
        "ada..l@example.com",
        ".ada@example.com",
        "ada@-example.com",
        "ada@example.c0m",
        "a@b.com, c@d.com",
        "ada@example.com>",
        "x" * 65 + "@example.com",
    ],
)
def test_invalid_addresses_are_refused(raw):
    assert normalize_email(raw) is None

"""Tracking tokens cannot be forged or moved; machine traffic is told from people."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.tracking import classify, sign, verify

SECRET = b"k" * 32
ids = st.tuples(st.integers(1, 10**9), st.integers(1, 10**9), st.integers(1, 10**9))


@given(ids, ids)
def test_a_token_does_not_move_to_other_ids(mine, theirs):
    token = sign(SECRET, "click", *mine)
    assert verify(SECRET, token, "click", *mine)
    assert verify(SECRET, token, "click", *theirs) == (mine == theirs)


@given(ids, st.text(max_size=40))
def test_random_strings_never_verify(values, forged):
    assert not verify(SECRET, forged, "click", *values) or forged == sign(SECRET, "click", *values)


def test_purpose_and_secret_are_bound():
    token = sign(SECRET, "open", 7, 42)
    assert not verify(SECRET, token, "click", 7, 42)
    assert not verify(b"x" * 32, token, "open", 7, 42)
    assert not verify(SECRET, token[:-1], "open", 7, 42)
    assert not verify(SECRET, None, "open", 7, 42)
    assert not verify(SECRET, "é" * 22, "open", 7, 42)
    with pytest.raises(ValueError):
        sign(b"", "open", 1)


@pytest.mark.parametrize(
    ("agent", "method", "seconds", "expected"),
    [
        ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15", "GET", 900, "human"),
        ("Mozilla/5.0", "GET", 2, "apple_mpp"),
        (
            "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Firefox/11.0 (via ggpht.com GoogleImageProxy)",
            "GET",
            600,
            "proxy",
        ),
        ("Mozilla/5.0 (compatible; Barracuda Sentinel)", "GET", 600, "scanner"),
        ("python-requests/2.31", "GET", 600, "scanner"),
        ("Mozilla/5.0 (Windows NT 10.0) Chrome/120.0 Safari/537.36", "GET", 3.0, "fast"),
        ("Mozilla/5.0 (Windows NT 10.0) Chrome/120.0 Safari/537.36", "HEAD", 600, "head"),
        ("", "GET", 600, "empty"),
        (None, "GET", None, "empty"),
    ],
)
def test_classification(agent, method, seconds, expected):
    kind, machine = classify(agent, method, seconds)
    assert kind == expected
    assert machine == (expected != "human")

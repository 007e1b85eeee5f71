"""Signed tracking tokens and the classification of opens and clicks.

Tokens are HMAC-SHA256 (truncated to 128 bits, base64url) over a purpose and the ids
they bind, under a per-database secret; :func:`verify` compares in constant time. A
token made for one delivery, link or partner does not verify for another.

:func:`classify` tells human engagement from machine traffic (mail privacy proxies,
security scanners, prefetchers): machine opens and clicks are kept, flagged, and do
not count as engagement.

>>> secret = b"s" * 32
>>> token = sign(secret, "click", 7, 3, 42)
>>> verify(secret, token, "click", 7, 3, 42), verify(secret, token, "click", 7, 3, 43)
(True, False)
>>> classify("Mozilla/5.0 (Windows NT 10.0; Win64; x64) Firefox/128.0", "GET", 3600.0)
('human', False)
>>> classify("Mozilla/5.0 (via ggpht.com GoogleImageProxy)", "GET", 3600.0)
('proxy', True)
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

_SEP = "\x1f"

# User agents of mail privacy proxies (they fetch images for the reader, or ahead of
# any reading: Apple Mail Privacy Protection prefetches every image on delivery).
_PROXY = re.compile(r"GoogleImageProxy|YahooMailProxy|Yahoo! Slurp|ggpht\.com|OutlookImageProxy")
# Security scanners, link checkers and generic HTTP clients.
_SCANNER = re.compile(
    r"bot\b|crawler|spider|scan|barracuda|mimecast|proofpoint|symantec|messagelabs|"
    r"trend ?micro|fortinet|fortiguard|sophos|forcepoint|cisco|ironport|zscaler|"
    r"safelinks|microsoft office|ms-office|python-requests|python-urllib|httpx|curl/|"
    r"wget|go-http-client|java/|okhttp|libwww|headlesschrome|phantomjs|nessus",
    re.IGNORECASE,
)
# Apple Mail Privacy Protection fetches with a bare "Mozilla/5.0".
_APPLE_MPP = re.compile(r"^Mozilla/5\.0$")
# A click this soon after the email went out is a scanner following every link.
FAST_CLICK_SECONDS = 10.0


def sign(secret: bytes, purpose: str, *ids: object) -> str:
    """The token binding ``purpose`` and ``ids`` under ``secret``."""
    if not secret:
        raise ValueError("a tracking secret is required")
    message = _SEP.join([purpose, *(str(i) for i in ids)]).encode()
    digest = hmac.new(secret, message, hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def verify(secret: bytes, token: object, purpose: str, *ids: object) -> bool:
    """Whether ``token`` was made by :func:`sign` for exactly these values (constant
    time; anything that is not a token of the right shape is simply refused)."""
    if not isinstance(token, str) or len(token) != 22 or not secret:
        return False
    return hmac.compare_digest(
        sign(secret, purpose, *ids).encode(), token.encode("ascii", "replace")
    )


def classify(
    user_agent: str | None, method: str, seconds_since_sent: float | None
) -> tuple[str, bool]:
    """(class, is_machine) of one open or click request.

    Classes: ``human``; ``head`` (a HEAD request: link checkers); ``empty`` (no user
    agent); ``apple_mpp`` (Apple Mail Privacy Protection prefetch); ``proxy`` (Gmail,
    Yahoo or Outlook image proxies); ``scanner`` (security scanners, HTTP libraries,
    headless browsers); ``fast`` (within 10 seconds of sending: scanners click every
    link on delivery).
    """
    agent = (user_agent or "").strip()
    if method.upper() == "HEAD":
        return "head", True
    if not agent:
        return "empty", True
    if _APPLE_MPP.match(agent):
        return "apple_mpp", True
    if _PROXY.search(agent):
        return "proxy", True
    if _SCANNER.search(agent):
        return "scanner", True
    if seconds_since_sent is not None and 0 <= seconds_since_sent < FAST_CLICK_SECONDS:
        return "fast", True
    return "human", False

"""How every request to Listmonk is sent: auth, timeout, envelope, errors and retries.

One :class:`Transport` per Listmonk configuration (base URL, API user, token); it owns
an ``httpx.Client`` and nothing is shared between instances, so one Odoo worker can
talk to the Listmonks of several companies from several threads.

Retry rules (the point of this module):

- A failure to *connect* (refused, DNS, TLS, connect timeout, no free connection in the
  pool) is retried for every method: nothing was sent.
- After the request was sent, only idempotent calls (GET, PUT, PATCH, DELETE: they set a
  state, so a second identical call changes nothing more) are retried, on timeouts,
  broken connections and 5xx answers that :func:`~listmonk.errors.classify` calls
  temporary.
- A non-idempotent POST (a transactional send, a campaign or subscriber creation) is
  never repeated once it may have reached the server: a timeout, a dropped connection
  or a proxy's 502/504 raises :class:`~listmonk.errors.ListmonkOutcomeUnknown`.

Backoff is exponential with jitter: ``backoff * 2**n`` seconds (capped at
``max_backoff``), each scaled by a random factor in [0.5, 1].
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable, Iterator, Mapping
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any, TypeVar
from urllib.parse import quote

import httpx

from .errors import (
    ListmonkError,
    ListmonkOutcomeUnknown,
    ListmonkProtocolError,
    ListmonkUnavailable,
    classify,
)
from .models import Page

T = TypeVar("T")
_Self = TypeVar("_Self", bound="Transport")

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "PATCH", "DELETE"})
USER_AGENT = "marketing_trigger-listmonk/1.0"

Params = Mapping[str, Any]
# What a query value may hold as it is (Go's url.ParseQuery and proxies read it so):
# RFC 3986 unreserved characters and sub-delimiters but ``&+=``, and ``:@/?``.
_QUERY_ESCAPE_RE = re.compile(r"[^A-Za-z0-9\-._~!$'()*,;:@/?]+")


class _NoCookies(DefaultCookiePolicy):
    """Listmonk ignores the Authorization header of a request that carries a
    ``session=`` cookie (and then answers 403), so never keep or send any cookie."""

    def set_ok(self, cookie: Any, request: Any) -> bool:
        return False

    def return_ok(self, cookie: Any, request: Any) -> bool:
        return False


class Transport:
    """Authenticated JSON calls to one Listmonk (v4+ API users).

    ``timeout`` (seconds) applies to every call; ``retries`` is how many times a failed
    call that is safe to repeat is sent again. ``transport`` and ``sleep`` exist for tests.
    """

    def __init__(
        self,
        base_url: str,
        username: str,
        token: str,
        *,
        timeout: float = 10.0,
        retries: int = 3,
        backoff: float = 0.5,
        max_backoff: float = 8.0,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError("The Listmonk URL must start with http:// or https://")
        if not username or ":" in username:
            raise ValueError("The Listmonk API user must be non-empty and contain no ':'")
        if not token:
            raise ValueError("The Listmonk API token is empty")
        if timeout <= 0 or retries < 0 or backoff < 0:
            raise ValueError("timeout must be positive, retries and backoff not negative")
        self.base_url = base_url.rstrip("/")
        self.username = username
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self._sleep = sleep
        self._http = httpx.Client(
            base_url=self.base_url + "/",
            headers={
                # `token user:key`, lowercase scheme: the v4+ API-user form (contract 1.1).
                "Authorization": f"token {username}:{token}",
                "Accept": "application/json",
                "User-Agent": USER_AGENT,
            },
            cookies=CookieJar(policy=_NoCookies()),
            timeout=timeout,
            follow_redirects=False,
            transport=transport,
        )

    def __repr__(self) -> str:  # never show the token
        return f"<{type(self).__name__} {self.base_url} user={self.username!r}>"

    def close(self) -> None:
        self._http.close()

    def __enter__(self: _Self) -> _Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- the one way to send ------------------------------------------------------------

    def call(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        json: Any = None,
        idempotent: bool | None = None,
        data: Mapping[str, str] | None = None,
        files: Mapping[str, Any] | None = None,
    ) -> Any:
        """Send, retry where safe, and return the ``data`` of Listmonk's envelope.
        ``data`` and ``files`` make a multipart form body instead of JSON."""
        method = method.upper()
        safe = method in IDEMPOTENT_METHODS if idempotent is None else idempotent
        url = self._url(path, params)
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self._http.request(method, url, json=json, data=data, files=files)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                # The connection was never made: nothing reached Listmonk.
                error: ListmonkError = ListmonkUnavailable(
                    f"cannot connect to Listmonk: {exc or type(exc).__name__}",
                    method=method,
                    path=path,
                    attempts=attempt,
                )
                retry = True
            except httpx.UnsupportedProtocol as exc:
                raise ListmonkProtocolError(str(exc), method=method, path=path) from exc
            except httpx.TransportError as exc:
                # Sent (at least partly) and then the answer was lost.
                what = "timed out" if isinstance(exc, httpx.TimeoutException) else "failed"
                text = f"request {what} after it was sent: {exc or type(exc).__name__}"
                if not safe:
                    raise ListmonkOutcomeUnknown(
                        text, method=method, path=path, attempts=attempt
                    ) from exc
                error = ListmonkUnavailable(text, method=method, path=path, attempts=attempt)
                retry = True
            else:
                if response.status_code == 200:
                    return _data(response, method, path, attempt)
                error = _error(response, method, path, attempt, safe)
                retry = safe and isinstance(error, ListmonkUnavailable)
            if not retry or attempt > self.retries:
                raise error
            delay = min(self.backoff * 2 ** (attempt - 1), self.max_backoff)
            self._sleep(delay * (0.5 + random.random() / 2))

    def _url(self, path: str, params: Params | None) -> httpx.URL:
        """The request URL with its query encoded once. httpx reparses a URL for every
        merge (``params=``), in Python, character by character: milliseconds for the
        long ``query=`` of a lookup. The characters a query value may hold as they are
        (RFC 3986 sub-delimiters but ``&+=``, and ``:@/?``) are left unescaped, which
        keeps that URL a quarter shorter."""
        base = self._http.base_url
        raw = base.raw_path + quote(path.lstrip("/"), safe="/").encode()
        query = _query(params)
        if query:
            pairs = [
                f"{_escape(key)}={_escape(value)}"
                for key, values in query.items()
                for value in (values if isinstance(values, list) else [values])
            ]
            raw += b"?" + "&".join(pairs).encode("ascii")
        return base.copy_with(raw_path=raw)

    def page(self, path: str, params: Params, parse: Callable[[Mapping[str, Any]], T]) -> Page[T]:
        return page_from(self.call("GET", path, params=params), parse)

    def iter_pages(
        self,
        path: str,
        params: Params,
        parse: Callable[[Mapping[str, Any]], T],
        *,
        per_page: int = 100,
    ) -> Iterator[T]:
        """Every result of a paginated listing, page after page, until ``total`` is
        reached or a page comes back empty (the offset pagination of contract 2.5)."""
        number, seen = 1, 0
        while True:
            page = self.page(path, {**params, "page": number, "per_page": per_page}, parse)
            yield from page.results
            seen += len(page.results)
            if not page.results or seen >= page.total:
                return
            number += 1


def page_from(data: Any, parse: Callable[[Mapping[str, Any]], T]) -> Page[T]:
    """A :class:`Page` from a page object, or from the bare array that some listings
    return (``GET /api/lists?minimal=true`` with no lists)."""
    if isinstance(data, list):
        return Page(tuple(parse(item) for item in data), len(data), 1, 0)
    if not isinstance(data, Mapping) or "results" not in data:
        raise ListmonkProtocolError(f"expected a page of results, got {str(data)[:200]!r}")
    results = tuple(parse(item) for item in data.get("results") or ())
    return Page(
        results,
        int(data.get("total") or 0),
        int(data.get("page") or 0),
        int(data.get("per_page") or 0),
    )


def _escape(value: object) -> str:
    """Percent-encode (UTF-8) what a query value may not hold as it is.

    >>> _escape("subscribers.email = 'a+b@x.org' AND name <> 'Zoë'")
    "subscribers.email%20%3D%20'a%2Bb@x.org'%20AND%20name%20%3C%3E%20'Zo%C3%AB'"
    """
    return _QUERY_ESCAPE_RE.sub(lambda m: quote(m[0], safe=""), str(value))


def _query(params: Params | None) -> dict[str, Any] | None:
    """httpx params without ``None`` values; booleans as Go's strconv.ParseBool reads them."""
    if not params:
        return None
    out: dict[str, Any] = {}
    for key, value in params.items():
        if value is None or value == ():
            continue
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, list | tuple):
            value = [str(v) for v in value]
        out[key] = value
    return out


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, Mapping) and isinstance(body.get("message"), str):
        return str(body["message"])
    text = response.text.strip()
    return text[:200] if text else (response.reason_phrase or f"HTTP {response.status_code}")


def _data(response: httpx.Response, method: str, path: str, attempt: int) -> Any:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, Mapping) or "data" not in body:
        raise ListmonkProtocolError(
            "the answer is not Listmonk's JSON envelope; is the base URL right? "
            f"({response.headers.get('content-type', '?')}: {response.text[:120]!r})",
            status=200,
            method=method,
            path=path,
            attempts=attempt,
        )
    return body["data"]


def _error(
    response: httpx.Response, method: str, path: str, attempt: int, safe: bool
) -> ListmonkError:
    status = response.status_code
    message = _message(response)
    kind = classify(status, message)
    if not safe and status in (502, 504):
        # A proxy gave up waiting: Listmonk may well have done it.
        kind = ListmonkOutcomeUnknown
    elif status == 401:
        message += " (Listmonk before v4 has no API users: upgrade to v4 or later)"
    elif status == 404:
        message += " (wrong base URL, or a route this Listmonk version does not have)"
    elif 300 <= status < 400:
        message = f"redirected to {response.headers.get('location')!r}: fix the base URL"
    return kind(message, status=status, method=method, path=path, attempts=attempt)

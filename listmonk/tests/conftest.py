"""Fixtures: a fresh fake Listmonk per test, and clients with short timeouts.

The clients never really sleep between retries (``sleep`` records the delays), so a
test that exhausts retries stays fast; only the timeout tests wait, for 0.2 s each
attempt of the ``hasty`` client.
"""

from collections.abc import Iterator

import pytest

from listmonk import ListmonkClient
from listmonk.testing import FakeListmonk

HASTY_TIMEOUT = 0.2  # the fake's injected delays are longer (0.5 s)


@pytest.fixture
def fake() -> Iterator[FakeListmonk]:
    with FakeListmonk() as server:
        yield server


@pytest.fixture
def sleeps() -> list[float]:
    return []


def _client(fake: FakeListmonk, sleeps: list[float], timeout: float) -> ListmonkClient:
    return ListmonkClient(
        fake.base_url,
        fake.username,
        fake.token,
        timeout=timeout,
        retries=2,
        backoff=0.05,
        sleep=sleeps.append,
    )


@pytest.fixture
def client(fake: FakeListmonk, sleeps: list[float]) -> Iterator[ListmonkClient]:
    """A client whose calls do not time out on a busy test machine."""
    with _client(fake, sleeps, 5.0) as api:
        yield api


@pytest.fixture
def hasty(fake: FakeListmonk, sleeps: list[float]) -> Iterator[ListmonkClient]:
    """A client that gives up after 0.2 s, for the timeout tests."""
    with _client(fake, sleeps, HASTY_TIMEOUT) as api:
        yield api


@pytest.fixture
def customers(client: ListmonkClient):
    return client.create_list("Customers", tags=["crm sync"])

"""Open311 fixtures: the in-process client of the API tests, and keys."""

from __future__ import annotations

import pytest

from geo311.auth import create_key
from tests.api.conftest import client  # noqa: F401  (the in-process client, on the test's transaction)


@pytest.fixture
def resident_key(session) -> str:
    return create_key(session, "resident", label="open311 test app")[1]

"""An in-process client whose sessions join the test's rolled-back transaction."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from geo311.api import create_app
from geo311.api.deps import get_session


@pytest.fixture
def client(settings, session_factory):
    app = create_app(settings)

    def session():
        with session_factory() as s:
            yield s
    app.dependency_overrides[get_session] = session
    with TestClient(app) as c:
        yield c

from __future__ import annotations

import pytest
from django.test import Client

from governance.api import services
from tests.jit.conftest import jit  # noqa: F401 - a fixture: the JIT endpoints' eligibility policy


@pytest.fixture
def api_token(personas):
    """`api_token("auditor")`: a fresh token's plaintext for that persona."""

    def make(key: str, *, days: int = 30) -> str:
        user = personas[key]
        _, plaintext = services.create_token(user=user, name=f"{key} script", days=days, with_mfa=True, actor=user)
        return plaintext

    return make


@pytest.fixture
def api(api_token):
    """`api("auditor").get("/api/v1/accounts/")`: a client that sends that persona's token."""

    def make(key: str) -> Client:
        return Client(HTTP_AUTHORIZATION=f"Bearer {api_token(key)}")

    return make

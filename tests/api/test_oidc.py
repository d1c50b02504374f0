"""OIDC bearer tokens, verified against the identity provider's JWKS served by a local HTTP
server: planners bound to the AGS of a claim, operators by role; forged, expired and foreign
tokens are refused."""

from __future__ import annotations

import dataclasses
import http.server
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient
from jwt.algorithms import RSAAlgorithm

from planungsdaten.app import create_app
from planungsdaten.settings import AuthSettings, Settings

ISSUER = "https://login.example.org/realms/sachsen-anhalt"
AUDIENCE = "planungsdaten"


def _rsa() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


PROVIDER_KEY = _rsa()
FOREIGN_KEY = _rsa()


@pytest.fixture(scope="module")
def jwks_url() -> Iterator[str]:
    """The provider's JWKS, as Keycloak serves it under …/protocol/openid-connect/certs."""
    public = json.loads(RSAAlgorithm.to_jwk(PROVIDER_KEY.public_key()))
    document = json.dumps({"keys": [{**public, "kid": "k1", "use": "sig", "alg": "RS256"}]})

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = document.encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/certs"
    server.shutdown()


@pytest.fixture
def client(settings: Settings, jwks_url: str) -> Iterator[TestClient]:
    auth = AuthSettings(oidc_jwks_url=jwks_url, oidc_issuer=ISSUER, oidc_audience=AUDIENCE)
    with TestClient(create_app(dataclasses.replace(settings, auth=auth))) as client:
        yield client


def token(key: rsa.RSAPrivateKey = PROVIDER_KEY, kid: str = "k1", **claims: Any) -> str:
    now = int(time.time())
    payload = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "f3b1c2d4",
        "iat": now,
        "exp": now + 300,
        "preferred_username": "m.muster",
        "ags": ["15088235"],
        **claims,
    }
    return jwt.encode(payload, key, algorithm="RS256", headers={"kid": kid})


def me(client: TestClient, bearer_token: str) -> tuple[int, dict[str, Any]]:
    response = client.get("/api/me", headers={"Authorization": f"Bearer {bearer_token}"})
    return response.status_code, response.json()


def test_a_planner_token_is_bound_to_its_municipalities(client: TestClient) -> None:
    assert me(client, token()) == (
        200,
        {"role": "planner", "name": "m.muster", "ags": ["15088235"]},
    )
    # Keycloak-style claims: a comma-separated attribute
    assert me(client, token(ags="15088235,15088205"))[1]["ags"] == ["15088205", "15088235"]


def test_the_operator_role_makes_an_operator(client: TestClient) -> None:
    roles: dict[str, Any] = {"roles": ["offline_access", "planungsdaten-operator"]}
    status, body = me(client, token(realm_access=roles))
    assert (status, body["role"]) == (200, "operator")
    headers = {"Authorization": f"Bearer {token(realm_access=roles)}"}
    assert client.get("/api/keys", headers=headers).status_code == 200
    planner = {"Authorization": f"Bearer {token()}"}
    assert client.get("/api/keys", headers=planner).status_code == 403


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: token(exp=int(time.time()) - 3600), "abgelaufen"),
        (lambda: token(iss="https://evil.example.org"), "ungültig (InvalidIssuerError)"),
        (lambda: token(aud="other-client"), "ungültig (InvalidAudienceError)"),
        (lambda: token(key=FOREIGN_KEY), "ungültig (InvalidSignatureError)"),
        (lambda: token(kid="unknown"), "ungültig (PyJWKClientError)"),
        (
            lambda: jwt.encode({"sub": "x", "exp": int(time.time()) + 60}, "", algorithm="none"),
            "ungültig",
        ),
    ],
)
def test_bad_tokens_are_refused(client: TestClient, make: Any, message: str) -> None:
    bad = make()
    status, body = me(client, bad)
    assert status == 401
    assert message in body["detail"]
    assert bad not in body["detail"]

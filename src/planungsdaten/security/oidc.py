"""OIDC bearer tokens: signature checked against the identity provider's JWKS, then issuer,
audience and expiry; the caller's municipalities and roles come from configured claims."""

from __future__ import annotations

import re
import threading
from typing import Any

import jwt

from planungsdaten.security.identity import Identity
from planungsdaten.settings import AuthSettings

_clients: dict[tuple[str, int], jwt.PyJWKClient] = {}
_lock = threading.Lock()


class TokenError(Exception):
    """The token cannot be accepted; the message says why (German, no token content)."""


def _client(settings: AuthSettings) -> jwt.PyJWKClient:
    assert settings.oidc_jwks_url is not None
    key = (settings.oidc_jwks_url, settings.jwks_cache_s)
    with _lock:
        if key not in _clients:
            _clients[key] = jwt.PyJWKClient(
                settings.oidc_jwks_url,
                cache_keys=True,
                lifespan=max(settings.jwks_cache_s, 1),
                timeout=10,
            )
        return _clients[key]


def _claim(claims: dict[str, Any], path: str) -> Any:
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [v for v in re.split(r"[\s,]+", value) if v]
    if isinstance(value, list):
        return [str(v) for v in value]
    return []


def identity_from_token(token: str, settings: AuthSettings) -> Identity:
    """The identity an OIDC access token stands for; `TokenError` if it is not valid."""
    if settings.oidc_jwks_url is None:
        raise TokenError(
            "Der Schlüssel hat nicht die Form eines API-Schlüssels (pdk_…), und Anmeldungen "
            "über OIDC sind nicht eingerichtet."
        )
    try:
        signing_key = _client(settings).get_signing_key_from_jwt(token)
        claims = jwt.decode(
            token,
            signing_key.key,
            algorithms=settings.oidc_algorithms,
            audience=settings.oidc_audience,
            issuer=settings.oidc_issuer,
            options={
                "require": ["exp", "sub"],
                "verify_aud": settings.oidc_audience is not None,
                "verify_iss": settings.oidc_issuer is not None,
            },
            leeway=30,
        )
    except jwt.ExpiredSignatureError as e:
        raise TokenError("Das Anmelde-Token ist abgelaufen; bitte neu anmelden.") from e
    except jwt.PyJWKClientConnectionError as e:
        raise TokenError(
            "Die Schlüssel des Anmeldedienstes (JWKS) sind nicht erreichbar; bitte später "
            "erneut versuchen."
        ) from e
    except jwt.PyJWTError as e:
        raise TokenError(f"Das Anmelde-Token ist ungültig ({type(e).__name__}).") from e
    roles = _strings(_claim(claims, settings.oidc_roles_claim))
    name = str(claims.get(settings.oidc_name_claim) or claims["sub"])
    subject = f"oidc:{claims.get('iss', '')}#{claims['sub']}"
    if settings.oidc_operator_role in roles:
        return Identity(subject=subject, role="operator", name=name)
    ags = frozenset(a for a in _strings(_claim(claims, settings.oidc_ags_claim)) if a.isdigit())
    return Identity(subject=subject, role="planner", ags=ags, name=name)

"""Bearer-token authentication for the HTTP transport: who is asking.

A `TokenVerifier` turns a bearer token into a `Principal` (or None). Tasks are
bound to the principal's subject (S-47): another principal cannot see, await or
cancel them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import anyio

from ._logging import get_logger

log = get_logger("taskapp.auth")


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller."""

    subject: str
    scopes: frozenset[str] = frozenset()
    claims: Mapping[str, Any] = field(default_factory=dict)


@runtime_checkable
class TokenVerifier(Protocol):
    """Checks a bearer token: a Principal when it is valid, None when it is not."""

    async def verify(self, token: str) -> Principal | None: ...


class StaticTokenVerifier:
    """A fixed table of tokens, for development and tests: `{"token": "subject", ...}`."""

    def __init__(self, tokens: Mapping[str, str | Principal]) -> None:
        self._tokens = {
            token: value if isinstance(value, Principal) else Principal(subject=value)
            for token, value in tokens.items()
        }

    async def verify(self, token: str) -> Principal | None:
        return self._tokens.get(token)


class JWTVerifier:
    """Verifies JWT access tokens (signature, issuer, audience, expiry) with PyJWT.

    Keys come from a JWKS document at `jwks_url` (fetched in a worker thread and
    cached by PyJWT), from a JWKS dict, or from explicit keys.

    Args:
        issuer: The expected `iss`.
        audience: The expected `aud` (usually this server's resource URL).
        jwks_url: Where the issuer publishes its keys.
        jwks: A JWKS document (`{"keys": [...]}`) given directly.
        keys: Explicit verification keys (PEM strings or key objects).
        algorithms: Accepted signature algorithms.
        leeway: Seconds of clock skew tolerated on `exp`/`nbf`.
    """

    def __init__(
        self,
        *,
        issuer: str,
        audience: str | Sequence[str],
        jwks_url: str | None = None,
        jwks: Mapping[str, Any] | None = None,
        keys: Iterable[Any] = (),
        algorithms: Sequence[str] = ("RS256", "ES256", "EdDSA"),
        leeway: float = 30.0,
    ) -> None:
        try:
            import jwt
        except ImportError as exc:  # pragma: no cover - depends on the installed extras
            raise ImportError("JWTVerifier needs PyJWT: pip install 'taskapp[auth]'") from exc
        self._jwt = jwt
        self.issuer = issuer
        self.audience = audience
        self.algorithms = list(algorithms)
        self.leeway = leeway
        self._keys: list[Any] = list(keys)
        if jwks is not None:
            self._keys += [jwt.PyJWK.from_dict(k).key for k in jwks.get("keys", [])]
        self._client = jwt.PyJWKClient(jwks_url, cache_keys=True) if jwks_url else None
        if not self._keys and self._client is None:
            raise ValueError("JWTVerifier needs jwks_url, jwks or keys to check signatures")

    async def verify(self, token: str) -> Principal | None:
        jwt = self._jwt
        try:
            keys = list(self._keys)
            if self._client is not None:
                client = self._client
                signing = await anyio.to_thread.run_sync(client.get_signing_key_from_jwt, token)
                keys = [signing.key]
            claims = self._decode(token, keys)
            if claims is None:
                return None
            return _principal(claims)
        # A claim of the wrong type is a bad token (401), never a server error: whatever
        # a malformed token makes the decoder raise is the token's fault; `_principal`
        # raises ValueError.
        except (jwt.PyJWTError, ValueError, TypeError, OverflowError) as exc:
            log.info("token rejected", reason=str(exc))
            return None

    def _decode(self, token: str, keys: list[Any]) -> dict[str, Any] | None:
        jwt = self._jwt
        for key in keys:
            try:
                claims: dict[str, Any] = jwt.decode(
                    token, key, algorithms=self.algorithms, audience=self.audience,
                    issuer=self.issuer, leeway=self.leeway, options={"require": ["exp", "sub"]},
                )  # fmt: skip
                return claims
            except jwt.InvalidSignatureError:
                continue
        return None


def _principal(claims: Mapping[str, Any]) -> Principal:
    """The principal of a verified token's claims; ValueError for a claim of the wrong type.

    PyJWT checks the types of `iss`, `aud`, `exp`, `nbf`, `iat` and `sub`; this checks
    what it does not: `sub` not empty, and `scope` (a space-separated string) or `scp`
    (a string or a list of strings).
    """
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise ValueError("the token's sub claim must be a non-empty string")
    scope = claims.get("scope") or claims.get("scp") or ""
    if isinstance(scope, str):
        scopes = frozenset(scope.split())
    elif isinstance(scope, list) and all(isinstance(s, str) for s in scope):
        scopes = frozenset(scope)
    else:
        raise ValueError("the token's scope must be a string, or scp a list of strings")
    return Principal(subject=subject, scopes=scopes, claims=claims)


@dataclass(frozen=True, slots=True)
class Auth:
    """How the HTTP transport authenticates, and what it tells clients about it.

    Args:
        verifier: Checks bearer tokens.
        authorization_servers: Issuer URLs listed in the protected resource metadata.
        required_scopes: Scopes every token must carry (else HTTP 403).
        resource: This server's resource URL; by default, the URL of the MCP endpoint.
    """

    verifier: TokenVerifier
    authorization_servers: Sequence[str] = ()
    required_scopes: Sequence[str] = ()
    resource: str | None = None

    def metadata(self, resource: str) -> dict[str, Any]:
        """The OAuth 2.0 protected resource metadata (RFC 9728) the MCP spec asks for."""
        data: dict[str, Any] = {
            "resource": self.resource or resource,
            "authorization_servers": list(self.authorization_servers),
            "bearer_methods_supported": ["header"],
        }
        if self.required_scopes:
            data["scopes_supported"] = list(self.required_scopes)
        return data


def as_auth(value: Auth | TokenVerifier | None) -> Auth | None:
    if value is None or isinstance(value, Auth):
        return value
    return Auth(verifier=value)

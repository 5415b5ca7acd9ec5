"""The caller's bearer token: a JWT checked for signature, expiry and role. Pure: no I/O.

Supabase signs its API keys and session tokens either with the project's JWT secret (HS256,
legacy projects) or with an asymmetric key published as a JWKS (RS256/ES256, newer projects).
The token's header names the algorithm; each algorithm is checked only against keys of its
kind, so an attacker cannot make us verify an HS256 token with a public key as its "secret".

    keys = Keys(hs256_secret="...32+ chars...")
    claims = verify_token(bearer_token("Bearer eyJ..."), keys, allowed_roles=("service_role",))
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import jwt

from streamer.webhook.errors import AuthFailure

HS256 = "HS256"
ASYMMETRIC = frozenset({"RS256", "ES256"})


@dataclass(frozen=True)
class Keys:
    """The keys a token may be signed with: the project's HS256 secret and/or JWKS keys."""

    hs256_secret: str | None = None
    jwks: tuple[jwt.PyJWK, ...] = ()

    def candidates(self, alg: str, kid: str | None) -> list[Any]:
        """The verification keys for a token's `alg` and `kid`, or AuthFailure saying why none."""
        if alg == HS256:
            if self.hs256_secret is None:
                raise AuthFailure("unsupported_algorithm", "HS256 tokens are not accepted (no secret)")
            return [self.hs256_secret]
        if alg not in ASYMMETRIC:
            raise AuthFailure("unsupported_algorithm", f"alg {alg!r}")
        found = [k.key for k in self.jwks
                 if k.algorithm_name == alg and (kid is None or k.key_id == kid)]
        if not found:
            raise AuthFailure("unknown_key", f"no {alg} key with kid {kid!r}")
        return found


@dataclass(frozen=True)
class Claims:
    """What the bridge keeps of a verified token (for logs: never the token itself)."""

    role: str
    subject: str | None = None
    issuer: str | None = None


def bearer_token(authorization: str | None) -> str:
    """The token in an `Authorization: Bearer <token>` header value."""
    if not authorization:
        raise AuthFailure("missing_token")
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthFailure("malformed_token", "expected 'Bearer <token>'")
    return token.strip()


def token_header(token: str) -> tuple[str, str | None]:
    """The (alg, kid) of a token's header, read before verification to choose the key."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise AuthFailure("malformed_token", "not a JWT") from None
    alg, kid = header.get("alg"), header.get("kid")
    if not isinstance(alg, str) or (kid is not None and not isinstance(kid, str)):
        raise AuthFailure("malformed_token", "bad header")
    return alg, kid


def verify_token(token: str, keys: Keys, *, allowed_roles: Collection[str], leeway: float = 30.0) -> Claims:
    """Verify `token` against `keys`; return its claims or raise AuthFailure with the reason."""
    alg, kid = token_header(token)
    for key in keys.candidates(alg, kid):
        try:
            payload = jwt.decode(token, key, algorithms=[alg], leeway=leeway,
                                 options={"require": ["exp"], "verify_aud": False})
        except jwt.InvalidSignatureError:
            continue  # another key of the set may have signed it
        except jwt.PyJWTError as exc:
            raise _failure(exc) from None
        return _claims(payload, allowed_roles)
    raise AuthFailure("bad_signature")


def _failure(exc: jwt.PyJWTError) -> AuthFailure:
    if isinstance(exc, jwt.ExpiredSignatureError):
        return AuthFailure("expired")
    if isinstance(exc, jwt.InvalidAlgorithmError | jwt.InvalidKeyError):
        return AuthFailure("unsupported_algorithm", type(exc).__name__)
    if isinstance(exc, jwt.MissingRequiredClaimError | jwt.ImmatureSignatureError | jwt.InvalidIssuedAtError):
        return AuthFailure("invalid_claims", type(exc).__name__)
    return AuthFailure("malformed_token", type(exc).__name__)


def _claims(payload: dict[str, Any], allowed_roles: Collection[str]) -> Claims:
    role = payload.get("role")
    if not isinstance(role, str) or role not in allowed_roles:
        raise AuthFailure("wrong_role", f"role {role!r}" if isinstance(role, str) else "no role claim")
    sub, iss = payload.get("sub"), payload.get("iss")
    return Claims(role=role, subject=sub if isinstance(sub, str) else None,
                  issuer=iss if isinstance(iss, str) else None)

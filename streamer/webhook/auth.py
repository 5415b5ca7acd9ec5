"""The caller's bearer token: a JWT checked for signature, claim types, expiry, role and, when
configured, audience and issuer. Pure: no I/O.

Supabase signs its API keys and session tokens either with the project's JWT secret (HS256,
legacy projects) or with an asymmetric key published as a JWKS (RS256/ES256, newer projects).
The token's header names the algorithm; each algorithm is checked only against keys of its
kind, so an attacker cannot make us verify an HS256 token with a public key as its "secret".

The signature is checked first; only then the claims, whose JSON types are checked before their
values (RFC 7519 §4.1): `exp`, `nbf` and `iat` are NumericDates (JSON numbers, not `"1700000000"`,
which PyJWT would read as one, nor booleans), `iss`, `sub` and `jti` strings, `aud` a string or
an array of strings. `aud` and `iss` are compared only when an `audience` / `issuer` is given.

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
NUMERIC_DATE_CLAIMS = ("exp", "nbf", "iat")
STRING_CLAIMS = ("iss", "sub", "jti")
# The first decode checks the signature alone; the claims are checked once their types are known.
_SIGNATURE_ONLY: Any = {"verify_exp": False, "verify_nbf": False, "verify_iat": False, "verify_aud": False,
                        "verify_iss": False, "verify_sub": False, "verify_jti": False}


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


def verify_token(token: str, keys: Keys, *, allowed_roles: Collection[str], leeway: float = 30.0,
                 audience: str | None = None, issuer: str | None = None) -> Claims:
    """Verify `token` against `keys`; return its claims or raise AuthFailure with the reason."""
    alg, kid = token_header(token)
    for key in keys.candidates(alg, kid):
        try:
            payload = jwt.decode(token, key, algorithms=[alg], options=_SIGNATURE_ONLY)
        except jwt.InvalidSignatureError:
            continue  # another key of the set may have signed it
        except jwt.PyJWTError as exc:
            raise _failure(exc) from None
        check_claim_types(payload)
        try:
            jwt.decode(token, key, algorithms=[alg], leeway=leeway, audience=audience, issuer=issuer,
                       options={"require": ["exp"], "verify_aud": audience is not None})
        except jwt.PyJWTError as exc:
            raise _failure(exc) from None
        return _claims(payload, allowed_roles)
    raise AuthFailure("bad_signature")


def check_claim_types(payload: dict[str, Any]) -> None:
    """AuthFailure("invalid_claims") naming the first registered claim whose JSON type RFC 7519
    does not allow (a missing claim is left to the checks that require it)."""
    for name in NUMERIC_DATE_CLAIMS:
        value = payload.get(name)
        if name in payload and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise AuthFailure("invalid_claims", f"{name} is not a JSON number", claim=name)
    for name in STRING_CLAIMS:
        if name in payload and not isinstance(payload[name], str):
            raise AuthFailure("invalid_claims", f"{name} is not a string", claim=name)
    aud = payload.get("aud")
    if "aud" in payload and not (isinstance(aud, str) or (isinstance(aud, list)
                                                           and all(isinstance(a, str) for a in aud))):
        raise AuthFailure("invalid_claims", "aud is neither a string nor an array of strings", claim="aud")


def _failure(exc: jwt.PyJWTError) -> AuthFailure:
    if isinstance(exc, jwt.ExpiredSignatureError):
        return AuthFailure("expired", claim="exp")
    if isinstance(exc, jwt.InvalidAudienceError):
        return AuthFailure("wrong_audience", claim="aud")
    if isinstance(exc, jwt.InvalidIssuerError):
        return AuthFailure("wrong_issuer", claim="iss")
    if isinstance(exc, jwt.InvalidAlgorithmError | jwt.InvalidKeyError):
        return AuthFailure("unsupported_algorithm", type(exc).__name__)
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return AuthFailure("invalid_claims", f"{exc.claim} missing", claim=exc.claim)
    if isinstance(exc, jwt.ImmatureSignatureError):
        return AuthFailure("invalid_claims", "not valid yet", claim="iat" if "(iat)" in str(exc) else "nbf")
    if isinstance(exc, jwt.InvalidIssuedAtError):
        return AuthFailure("invalid_claims", type(exc).__name__, claim="iat")
    return AuthFailure("malformed_token", type(exc).__name__)


def _claims(payload: dict[str, Any], allowed_roles: Collection[str]) -> Claims:
    role = payload.get("role")
    if not isinstance(role, str) or role not in allowed_roles:
        raise AuthFailure("wrong_role", f"role {role!r}" if isinstance(role, str) else "no role claim", claim="role")
    sub, iss = payload.get("sub"), payload.get("iss")
    return Claims(role=role, subject=sub if isinstance(sub, str) else None,
                  issuer=iss if isinstance(iss, str) else None)

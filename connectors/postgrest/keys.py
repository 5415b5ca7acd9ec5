"""Supabase-style API keys: HS256 JWTs whose `role` claim names a PostgreSQL role.

Supabase's `anon` and `service_role` keys are long-lived JWTs signed with the project's JWT secret;
PostgREST reads the `role` claim and runs the request under `SET LOCAL ROLE <role>`.
"""

from __future__ import annotations

import time

import jwt

TEN_YEARS = 10 * 365 * 24 * 3600


def issue_key(secret: str, role: str, *, ttl_seconds: int = TEN_YEARS, issuer: str = "supabase") -> str:
    """Sign a key for `role`, e.g. `issue_key(secret, "service_role")`."""
    now = int(time.time())
    claims = {"iss": issuer, "role": role, "iat": now, "exp": now + ttl_seconds}
    return jwt.encode(claims, secret, algorithm="HS256")


def role_of(key: str) -> str | None:
    """The `role` claim of a key, read without verifying it (for diagnostics only)."""
    try:
        claims = jwt.decode(key, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    role = claims.get("role")
    return role if isinstance(role, str) else None

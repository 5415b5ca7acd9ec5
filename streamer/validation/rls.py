"""Row-level security on the destination table, read from its catalog (needs the destination DSN).

An upsert (`INSERT ... ON CONFLICT DO UPDATE`) under RLS needs policies for INSERT, UPDATE and
SELECT (or one `FOR ALL`) that apply to service_role, unless the role has BYPASSRLS, as Supabase's
service_role does. `rls_verdict` decides on the facts; `rls_check` reads them.
"""

from __future__ import annotations

from collections.abc import Set
from dataclasses import dataclass

import asyncpg

from connectors.postgres.errors import translate_errors
from streamer.texts import said
from streamer.validation.report import Check

ROLE = "service_role"
NEEDED = ("INSERT", "UPDATE", "SELECT")
FACTS_SQL = """
SELECT c.relrowsecurity AS enabled,
       coalesce((SELECT r.rolbypassrls FROM pg_roles r WHERE r.rolname = $3), false) AS bypass,
       coalesce((SELECT array_agg(DISTINCT p.cmd) FROM pg_policies p
                  WHERE p.schemaname = $1 AND p.tablename = $2
                    AND ($3 = ANY (p.roles) OR 'public' = ANY (p.roles))), '{}') AS commands
FROM pg_class c
WHERE c.oid = to_regclass(format('%I.%I', $1::text, $2::text))
"""


@dataclass(frozen=True)
class RlsFacts:
    enabled: bool
    bypass: bool
    commands: Set[str]  # pg_policies.cmd values applying to the role: ALL, INSERT, UPDATE, ...


def policy_sql(table: str) -> str:
    return (f"CREATE POLICY service_role_full_access_leads ON public.{table} FOR ALL TO service_role "
            "USING (true) WITH CHECK (true);")


def rls_verdict(facts: RlsFacts | None, table: str) -> Check:
    """ok when RLS is off, bypassed, or has policies for every command an upsert needs."""
    if facts is None:
        return Check.of("rls", "fail", said("check.rls_no_table", table=table), said("fix.migrate_destination"))
    if not facts.enabled:
        return Check.of("rls", "warn", said("check.rls_disabled", table=table),
                        said("fix.enable_rls", table=table, policy=policy_sql(table)))
    if facts.bypass:
        return Check.of("rls", "ok", said("check.rls_bypass", role=ROLE))
    lacking = [] if "ALL" in facts.commands else [c for c in NEEDED if c not in facts.commands]
    if lacking:
        return Check.of("rls", "fail", said("check.rls_lacking", role=ROLE, commands=", ".join(lacking), table=table),
                        said("fix.add_policy", policy=policy_sql(table)))
    return Check.of("rls", "ok", said("check.rls_ok", role=ROLE, commands=", ".join(sorted(facts.commands))))


async def read_rls_facts(conn: asyncpg.Connection, schema: str, table: str, role: str = ROLE) -> RlsFacts | None:
    with translate_errors(f"reading the policies of {schema}.{table}"):
        row = await conn.fetchrow(FACTS_SQL, schema, table, role)
    if row is None:
        return None
    return RlsFacts(bool(row["enabled"]), bool(row["bypass"]), frozenset(row["commands"]))


async def rls_check(conn: asyncpg.Connection, schema: str, table: str) -> Check:
    return rls_verdict(await read_rls_facts(conn, schema, table), table)

"""The doctor's verdicts on literal facts: RLS, slot, lag, stuck jobs, errors, loop guards."""

from __future__ import annotations

import pytest

from connectors.postgres.slot import SlotStatus
from streamer.validation.health import (
    StuckJob,
    growth_verdict,
    lag_verdict,
    replication_verdict,
    slot_verdict,
    stuck_verdict,
)
from streamer.validation.loop import Trigger, reverse_verdict, tagging_verdict
from streamer.validation.report import overall
from streamer.validation.rls import RlsFacts, rls_verdict

GUARDED = "IF NEW.sync_source = 'tabuladormax' OR NEW.sync_source = 'supabase' THEN RETURN NEW; END IF;"
TAGGER = Trigger("O", "new.sync_source := coalesce(origin, 'gestao_scouter');")


def slot(**kw: object) -> SlotStatus:
    base: dict[str, object] = dict(slot_name="s", active=True, active_pid=1, confirmed_flush_lsn=1, restart_lsn=1,
                                   retained_wal_bytes=1024, confirmed_lag_bytes=0, wal_status="reserved")
    return SlotStatus(**(base | kw))  # type: ignore[arg-type]


def test_rls_bypassed_or_with_an_all_policy_is_ok() -> None:
    """service_role's BYPASSRLS, or a FOR ALL policy, lets the upsert through."""
    assert rls_verdict(RlsFacts(True, True, frozenset()), "leads").status == "ok"
    assert rls_verdict(RlsFacts(True, False, frozenset({"ALL"})), "leads").status == "ok"


def test_rls_without_a_policy_for_service_role_fails_with_the_seeds_policy() -> None:
    """No bypass, no policy: the fix is the seed's CREATE POLICY, the detail the pg_policies query."""
    check = rls_verdict(RlsFacts(True, False, frozenset({"SELECT"})), "leads")
    assert check.status == "fail" and "INSERT, UPDATE" in check.detail and "pg_policies" in check.detail
    assert "FOR ALL TO service_role USING (true) WITH CHECK (true)" in check.fix


def test_rls_disabled_is_a_warning() -> None:
    """Writes work, but the table is open to the anon key."""
    assert rls_verdict(RlsFacts(False, False, frozenset()), "leads").status == "warn"


def test_slot_verdicts() -> None:
    """Missing and idle warn, lost fails, too much retained WAL warns, an active small slot is ok."""
    assert slot_verdict(None, "s", 10).status == "warn"
    assert slot_verdict(slot(wal_status="lost"), "s", 10**9).status == "fail"
    assert slot_verdict(slot(active=False), "s", 10**9).status == "warn"
    big = slot_verdict(slot(retained_wal_bytes=2 * 1024**3), "s", 1024**3)
    assert big.status == "warn" and "2.00 GiB" in big.detail
    assert slot_verdict(slot(), "s", 10**9).status == "ok"


def test_lag_is_end_minus_committed_summed_over_partitions() -> None:
    """Lag beyond the threshold warns and names the worst partition."""
    check = lag_verdict("t", "g", {0: 100, 1: 50}, {0: 10, 1: 50}, 50)
    assert check.status == "warn" and "90 record(s) behind" in check.detail and "partition 0: 90" in check.detail
    assert lag_verdict("t", "g", {0: 100}, {0: 95}, 50).status == "ok"
    assert lag_verdict("t", "g", {}, {}, 50).status == "warn"
    assert "committed nothing" in lag_verdict("t", "g", {0: 100}, {0: None}, 50).detail


def test_stuck_jobs_fail_with_their_ids() -> None:
    """A running job idle past the threshold is named, with how to pause and resume it."""
    check = stuck_verdict([StuckJob("j1", 7200.0)], 3600)
    assert check.status == "fail" and "j1 (idle 2.0 h)" in check.detail and "paused" in check.fix
    assert stuck_verdict([], 3600).status == "ok"


def test_error_growth() -> None:
    """No errors ok; some warn; a burst fails; the commonest message and the pattern query are shown."""
    assert growth_verdict(0, 5, []).status == "ok"
    assert growth_verdict(3, 5, [("x", 3)]).status == "warn"
    burst = growth_verdict(40, 2, [("PGRST204 apelido", 40)])
    assert burst.status == "fail" and "40× PGRST204 apelido" in burst.detail and "validate schema" in burst.fix


def test_source_tagging_verdicts() -> None:
    """No column, no trigger, a disabled trigger or a sink not skipping gestao_scouter all fail."""
    skip = ("gestao_scouter", "supabase")
    assert tagging_verdict(True, Trigger("O", ""), skip, "leads").status == "ok"
    missing = tagging_verdict(True, None, skip, "leads")
    assert missing.status == "fail" and "leads_tag_write" in missing.detail and "migrate" in missing.fix
    assert tagging_verdict(False, None, skip, "leads").status == "fail"
    assert "ENABLE TRIGGER" in tagging_verdict(True, Trigger("D", ""), skip, "leads").fix
    assert tagging_verdict(True, Trigger("O", ""), ("supabase",), "leads").status == "fail"


def test_reverse_trigger_without_the_loop_guard_fails() -> None:
    """A reverse trigger that does not skip 'tabuladormax' rows is a loop; the fix replaces it."""
    [_, check] = reverse_verdict(True, Trigger("O", "PERFORM net.http_post(...)"), True, "leads", tagger=TAGGER)
    assert check.status == "fail" and "loop" in check.detail and "streamer reverse trigger-sql" in check.fix


def test_reverse_trigger_needs_a_webhook_key() -> None:
    """With the guard but no webhook key the reverse path cannot work; with both it is ok."""
    [_, no_key] = reverse_verdict(True, Trigger("O", GUARDED), False, "leads", tagger=TAGGER)
    assert no_key.status == "fail" and "STREAMER_WEBHOOK__JWT_SECRET" in no_key.fix
    [_, ok] = reverse_verdict(True, Trigger("O", GUARDED), True, "leads", tagger=TAGGER)
    assert ok.status == "ok"


@pytest.mark.parametrize("tagger", [None, Trigger("D", "")])
def test_reverse_trigger_without_the_destination_tagging_trigger_fails(tagger: Trigger | None) -> None:
    """Without its tagging trigger, Gestão Scouter's edits of synced leads are swallowed as echoes."""
    [_, check] = reverse_verdict(True, Trigger("O", GUARDED), True, "leads", tagger=tagger)
    assert check.status == "fail" and "tag_gestao_scouter_write" in check.detail
    assert "never sent" in check.detail and "streamer reverse trigger-sql" in check.fix


def test_no_reverse_trigger_is_skipped_as_optional() -> None:
    """Reverse sync is optional: skipped, with how to enable it; exit code unaffected."""
    checks = reverse_verdict(True, None, False, "leads", tagger=None)
    assert [c.status for c in checks] == ["ok", "skip"] and overall(checks) == 0


def test_replication_more_than_brokers_fails_and_under_replication_warns() -> None:
    failed = replication_verdict(3, 1, {})
    assert failed.status == "fail"
    assert "STREAMER_KAFKA__REPLICATION_FACTOR is 3 but the cluster has 1 live broker(s)" in failed.detail
    warned = replication_verdict(3, 3, {"t.public.leads": 4})  # a broker back, catching up
    assert warned.status == "warn"
    assert "under-replicated partitions (t.public.leads: 4)" in warned.detail
    assert replication_verdict(3, 3, {"t.public.leads": 0}).status == "ok"

"""The e-mails' text (pure): what each kind says, in pt-BR with an English line, and what it
never says (an error message, a lead); and the rate limit's arithmetic (outbox.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from streamer.notify.message import ErrorBurst, FailedJob, SinkBlocked, compose
from streamer.notify.outbox import Outbox

JOB = FailedJob(id="6f1c1e0e-0000-4000-8000-000000000001", kind="export", start_date=date(2024, 1, 1),
                end_date=date(2024, 1, 31), total=12_500, landed=10_000, failed=3, error_class="SetupError",
                finished_at=datetime(2024, 2, 1, 12, 0, tzinfo=UTC))


def test_a_failed_job_mail_names_the_job_its_range_counts_and_error_class() -> None:
    mail = compose("job_failed", [JOB], zone="America/Sao_Paulo")
    assert mail.subject == "[lead-sync] Job de exportação falhou: 6f1c1e0e"
    assert JOB.id in mail.body
    assert "Período: 01/01/2024 a 31/01/2024" in mail.body
    assert "10.000 enviados, 3 com erro, de 12.500" in mail.body
    assert "01/02/2024 09:00:00 -03" in mail.body  # São Paulo time
    assert "Erro: SetupError" in mail.body
    assert "English: 1 job(s) failed" in mail.body


@pytest.mark.parametrize(("message", "expected"), [
    ("SetupError: relation \"public.maria_11987654321\" does not exist", "SetupError"),
    ("RowRejected: value 'ana@example.com' too long", "RowRejected"),
    ("value ana@example.com broke a rule", None),
    (None, None),
])
def test_only_the_error_class_of_a_job_error_is_kept(message: str | None, expected: str | None) -> None:
    assert FailedJob.error_class_of(message) == expected


def test_several_failed_jobs_and_folded_notices_are_counted() -> None:
    other = FailedJob(**{**{f: getattr(JOB, f) for f in JOB.__slots__}, "id": "aaaabbbb-0000-4000-8000-0000000000ff",
                         "kind": "retry", "error_class": None})
    mail = compose("job_failed", [JOB, other], suppressed=1)
    assert mail.subject == "[lead-sync] 2 jobs falharam"
    assert "reenvio de erros" in mail.body and "Erro: ver detalhes (streamer jobs show aaaabbbb)" in mail.body
    assert "1 aviso(s) deste tipo foram agrupados" in mail.body


def test_an_error_burst_mail_gives_counts_by_http_status_and_job() -> None:
    bursts = [ErrorBurst(60, 600, 50, {400: 40, None: 20}, {JOB.id: 60}),
              ErrorBurst(55, 600, 50, {400: 50, 409: 5}, {None: 55})]
    mail = compose("errors", bursts)
    assert mail.subject == "[lead-sync] 115 erros de envio ao Gestão Scouter (limite 50 em 10 min)"
    assert "- 400: 90\n- sem resposta: 20\n- 409: 5" in mail.body
    assert f"- {JOB.id}: 60" in mail.body and "- sincronização contínua (sem job): 55" in mail.body


@pytest.mark.parametrize(("alive", "said"), [(True, "destino indisponível"), (False, "bloqueado")])
def test_a_sink_blocked_mail_says_how_long_and_why(alive: bool, said: str) -> None:
    mail = compose("sink_blocked", [SinkBlocked("sink", 330.0, alive)])
    assert mail.subject == f"[lead-sync] Sink parado há 6 min ({said})"
    assert "nada se perde" in mail.body


def test_nothing_to_tell_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="no item"):
        compose("errors", [])


def test_the_outbox_sends_the_first_notice_then_folds_the_burst_into_one_later_mail() -> None:
    box = Outbox(min_interval=600, retry=60)
    assert box.add("job_failed", [JOB]) is False
    assert box.due(0.0) == [("job_failed", [JOB], 0)]
    box.sent("job_failed", 0.0)
    folded = [box.add("job_failed", [JOB]) for _ in range(5)]
    assert folded == [False, True, True, True, True]  # 5 notices, one e-mail: 4 suppressed
    assert box.due(599.0) == []
    assert box.due(600.0) == [("job_failed", [JOB] * 5, 4)]
    box.sent("job_failed", 600.0)
    assert box.waiting("job_failed") == 0 and box.due(10_000.0) == []


def test_the_outbox_retries_a_refused_mail_later_with_what_came_since() -> None:
    box = Outbox(min_interval=0, retry=60)
    box.add("sink_blocked", [SinkBlocked("sink", 300, True)])
    box.failed("sink_blocked", 5.0)
    assert box.due(64.0) == []
    assert box.add("sink_blocked", [SinkBlocked("sink", 360, True)]) is True
    [(kind, items, suppressed)] = box.due(65.0)
    assert (kind, len(items), suppressed) == ("sink_blocked", 2, 1)
    assert box.due(65.0) and box.waiting("errors") == 0  # kinds are limited apart

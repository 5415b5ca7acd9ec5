"""What a notification e-mail says, built from plain figures: pure, no I/O.

An e-mail names jobs by id, kinds, dates, counts, HTTP statuses and components; never a lead (no
name, phone, e-mail, not even its id), never a response body or an error message (either may
quote a lead's values or a URL with a key), never a setting's value. A failed job's error is
reduced to its class name (`SetupError`), which `streamer jobs show <id>` details.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal
from zoneinfo import ZoneInfo

Kind = Literal["job_failed", "errors", "sink_blocked", "test"]
KINDS: tuple[Kind, ...] = ("job_failed", "errors", "sink_blocked")  # what the watchers raise
MAX_JOBS_LISTED = 20

_JOB_KINDS = {"export": "exportação", "replay": "replay (reprocessamento)", "retry": "reenvio de erros"}
_ERROR_CLASS = re.compile(r"^([A-Z][A-Za-z0-9_]{0,60})(?::|$)")


@dataclass(frozen=True, slots=True)
class FailedJob:
    id: str
    kind: str
    start_date: date | None
    end_date: date | None
    total: int
    landed: int
    failed: int
    finished_at: datetime | None
    error_class: str | None

    @staticmethod
    def error_class_of(error_message: str | None) -> str | None:
        """`SetupError: relation ... does not exist` -> `SetupError`; None for anything else."""
        match = _ERROR_CLASS.match(error_message or "")
        return match.group(1) if match else None


@dataclass(frozen=True, slots=True)
class ErrorBurst:
    """New rows of the error table: how many, by HTTP status (None: no response) and by job."""

    count: int
    window_seconds: float
    threshold: int
    by_status: dict[int | None, int] = field(default_factory=dict)
    by_job: dict[str | None, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SinkBlocked:
    component: str
    seconds: float
    alive: bool  # False: blocked (the key refused, schema drift); True: retrying the destination


Item = FailedJob | ErrorBurst | SinkBlocked


@dataclass(frozen=True, slots=True)
class Mail:
    kind: Kind
    subject: str
    body: str


def compose(kind: Kind, items: Sequence[Item], *, suppressed: int = 0, prefix: str = "[lead-sync]",
            zone: str = "UTC") -> Mail:
    """The e-mail for `items` of one kind (gathered since the last e-mail of that kind), saying
    how many notices the rate limit folded into it (`suppressed`)."""
    if not items:
        raise ValueError("compose: no item to tell about")
    tz = ZoneInfo(zone)
    if kind == "job_failed":
        subject, lines, english = _jobs([i for i in items if isinstance(i, FailedJob)], tz)
    elif kind == "errors":
        subject, lines, english = _errors([i for i in items if isinstance(i, ErrorBurst)])
    else:
        subject, lines, english = _sink([i for i in items if isinstance(i, SinkBlocked)][-1])
    if suppressed:
        lines += ["", f"Limite de envio: {suppressed} aviso(s) deste tipo foram agrupados neste e-mail "
                      "em vez de enviados um a um."]
    lines += ["", f"English: {english}", "", "— lead sync streamer (docs/notifications.md)"]
    return Mail(kind, f"{prefix} {subject}".strip(), "\n".join(lines) + "\n")


def test_mail(prefix: str = "[lead-sync]") -> Mail:
    """`streamer notify test`: proof that the relay, the login and the recipients work."""
    return Mail("test", f"{prefix} Teste de notificação".strip(),
                "Este é um e-mail de teste do lead sync streamer (streamer notify test): as notificações "
                "por e-mail estão configuradas e chegam a este endereço.\n\n"
                "English: a test e-mail; notifications are configured and reach this address.\n")


def _when(moment: datetime | None, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).strftime("%d/%m/%Y %H:%M:%S %Z") if moment else "—"


def _day(day: date | None) -> str:
    return day.strftime("%d/%m/%Y") if day else "—"


def _number(n: int) -> str:
    return f"{n:,}".replace(",", ".")  # pt-BR groups thousands with a dot


def _jobs(jobs: list[FailedJob], tz: ZoneInfo) -> tuple[str, list[str], str]:
    if len(jobs) == 1:
        job = jobs[0]
        subject = f"Job de {_JOB_KINDS.get(job.kind, job.kind)} falhou: {job.id[:8]}"
    else:
        subject = f"{len(jobs)} jobs falharam"
    lines = ["Job(s) que falharam:" if len(jobs) > 1 else "Um job falhou:", ""]
    for job in jobs[:MAX_JOBS_LISTED]:
        lines += [
            f"- Job {job.id} ({_JOB_KINDS.get(job.kind, job.kind)})",
            f"  Período: {_day(job.start_date)} a {_day(job.end_date)}",
            f"  Leads: {_number(job.landed)} enviados, {_number(job.failed)} com erro, de {_number(job.total)}",
            f"  Falhou em: {_when(job.finished_at, tz)}",
            f"  Erro: {job.error_class or 'ver detalhes'} (streamer jobs show {job.id[:8]})",
        ]
    if len(jobs) > MAX_JOBS_LISTED:
        lines.append(f"- e mais {len(jobs) - MAX_JOBS_LISTED} job(s): streamer jobs list --status failed")
    lines += ["", "Para continuar de onde parou: streamer jobs resume <id> (ou o botão na página /monitor)."]
    return subject, lines, f"{len(jobs)} job(s) failed; see `streamer jobs show <id>`."


def _errors(bursts: list[ErrorBurst]) -> tuple[str, list[str], str]:
    count = sum(b.count for b in bursts)
    statuses: Counter[int | None] = Counter()
    jobs: Counter[str | None] = Counter()
    for burst in bursts:
        statuses.update(burst.by_status)
        jobs.update(burst.by_job)
    last = bursts[-1]
    minutes = max(1, round(last.window_seconds / 60))
    subject = f"{_number(count)} erros de envio ao Gestão Scouter (limite {last.threshold} em {minutes} min)"
    lines = [f"{_number(count)} lead(s) não puderam ser gravados no destino "
             f"(limite: {last.threshold} em {minutes} minutos).", "", "Por status HTTP:"]
    lines += [f"- {status if status is not None else 'sem resposta'}: {_number(n)}"
              for status, n in sorted(statuses.items(), key=lambda kv: (-kv[1], str(kv[0])))]
    lines += ["", "Por job:"]
    lines += [f"- {job_id or 'sincronização contínua (sem job)'}: {_number(n)}"
              for job_id, n in sorted(jobs.items(), key=lambda kv: (-kv[1], str(kv[0])))[:MAX_JOBS_LISTED]]
    lines += ["", "Detalhes (status, corpo da resposta, campos): streamer errors list, ou a página /monitor.",
              "Depois de corrigir: streamer errors retry --job <id>."]
    return subject, lines, f"{count} leads failed to land at the destination."


def _sink(blocked: SinkBlocked) -> tuple[str, list[str], str]:
    minutes = max(1, round(blocked.seconds / 60))
    why = ("bloqueado: o destino recusa a chave ou o esquema mudou; não volta sozinho" if not blocked.alive
           else "tentando de novo: o destino não responde ou recusa temporariamente")
    subject = f"Sink parado há {minutes} min ({'bloqueado' if not blocked.alive else 'destino indisponível'})"
    lines = [f"O componente {blocked.component} não está pronto (/readyz) há {minutes} minuto(s): {why}.",
             "Novos leads esperam no Kafka e serão gravados quando o destino voltar; nada se perde.", "",
             "Diagnóstico: streamer doctor, streamer validate config, e os logs do serviço."]
    state = "blocked" if not blocked.alive else "retrying the destination"
    return subject, lines, f"the {blocked.component} has not been ready for {minutes} min ({state})."

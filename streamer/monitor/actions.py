"""The console's actions and their answers: start an export, save a mapping, check the schema,
reload the schema cache, test the connection, verify (and repair), retry and purge errors.

Every handler here runs behind the admin token (app.py `MonitorApi._admin`) and writes an audit
entry: the jobs and errors it creates or deletes are audited by the state seam itself
(`export.start`, `retry.start`, `errors.purge`), a mapping by its installer (`mapping.import`),
and the checks here (`console.validate_schema`, `console.reload_cache`, `console.test_connection`,
`verify.run`; a repair's job audits itself, `verify.repair`). A refusal the operator can act on
is answered 422 with its reason.

A refusal's body is `{"error": <English>}`, plus `"code"` and `"params"` when the reason has them
(streamer/texts.py), so the page shows it in the operator's language (`refusal_body`).
"""

from __future__ import annotations

from typing import Any, Protocol

import orjson
from starlette.requests import Request
from starlette.responses import Response

from connectors.errors import ConnectorError
from connectors.redaction import mask_urls
from streamer.errors import StreamerError
from streamer.logging import get_logger
from streamer.monitor.forms import FormError, export_form, purge_days
from streamer.monitor.operations import Json, Operations
from streamer.state.errors import ConcurrentChange, InvalidTransition
from streamer.texts import Said, said

log = get_logger(__name__)


class Answer(Protocol):
    def __call__(self, data: Any, status_code: int = 200) -> Response: ...


class ActionStore(Protocol):
    """What the actions need of the job tables (`streamer.monitor.store.JobStore`)."""

    async def create_export(self, form: Any, extra: dict[str, Any] | None = None) -> dict[str, Any]: ...

    async def retry(self, *, job_id: str | None = None, error_ids: tuple[int, ...] = ()) -> dict[str, Any] | None: ...

    async def purge(self, older_than: Any) -> int: ...

    async def record(self, action: str, parameters: dict[str, Any]) -> None: ...


async def body_of(request: Request) -> Any:
    raw = await request.body()
    if not raw:
        return {}
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise FormError(said("form.not_json")) from None


# A job's actions and statuses as words inside the console's sentences (streamer/state/jobs.py).
JOB_ACTIONS: dict[str, Said] = {
    "claim": said("job.action.claim"), "pause": said("job.action.pause"), "resume": said("job.action.resume"),
    "reset": said("job.action.reset"), "cancel": said("job.action.cancel"), "complete": said("job.action.complete"),
    "fail": said("job.action.fail")}
JOB_STATUSES: dict[str, Said] = {
    "pending": said("job.status.pending"), "running": said("job.status.running"),
    "paused": said("job.status.paused"), "completed": said("job.status.completed"),
    "failed": said("job.status.failed"), "cancelled": said("job.status.cancelled")}


def conflict(exc: InvalidTransition | ConcurrentChange) -> str | Said:
    """The 409's text: coded when the action and status are ones the console knows, else the
    exception's English words."""
    if isinstance(exc, InvalidTransition):
        if exc.action in JOB_ACTIONS and exc.status in JOB_STATUSES:
            return said("console.cannot_act", action=JOB_ACTIONS[exc.action], status=JOB_STATUSES[exc.status])
    elif exc.action in JOB_ACTIONS:
        return said("console.changed_meanwhile", job=exc.job_id, action=JOB_ACTIONS[exc.action])
    return str(exc)


def refusal_body(text: str | Said, known: Said | None = None) -> Json:
    """{"error": the English words} and, when `text` (or `known`, its code) has them, "code" and "params"."""
    coded = text if isinstance(text, Said) else known
    if coded is None:
        return {"error": str(text)}
    data = coded.json()
    return {"error": str(text), "code": data["code"], "params": data["params"]}


def refusal(exc: Exception) -> tuple[int, str]:
    """The status and the message for an exception an action raised (URLs masked: a destination
    URL may carry a password)."""
    if isinstance(exc, FormError):
        return 422, str(exc)
    if isinstance(exc, StreamerError):
        return 422, mask_urls(str(exc))
    if isinstance(exc, ConnectorError):
        return 502, mask_urls(str(exc))
    raise exc


class NotWired(Exception):
    """The action needs an operation the command layer did not pass in (a bare MonitorApi in tests)."""


class Actions:
    def __init__(self, operations: Operations | None, answer: Answer, actor: str = "monitor") -> None:
        self._ops, self.answer, self.actor = operations, answer, actor

    @property
    def ops(self) -> Operations:
        if self._ops is None:
            raise NotWired
        return self._ops

    async def run(self, store: ActionStore, request: Request, name: str) -> Response:
        """Run action `name`; a refusal becomes 422 (or 502 when another system failed)."""
        try:
            return self.answer(await getattr(self, f"_{name}")(store, request))
        except NotWired:
            return self.answer(refusal_body(said("console.not_wired")), 501)
        except (FormError, StreamerError, ConnectorError) as exc:
            status, message = refusal(exc)
            log.info("monitor: action refused", action=name, status=status)
            # The code travels only with the exception's own words (a masked URL keeps them apart).
            known = getattr(exc, "said", None)
            return self.answer(refusal_body(message, known if known and known.english == message else None),
                               status)

    async def _export(self, store: ActionStore, request: Request) -> Json:
        form = export_form(await body_of(request))
        extra: dict[str, Any] = {}
        if form.mapping is not None:  # installed (validated, audited) before the job exists
            extra["mapping"] = await self.ops.install_mapping(form.mapping, self.actor)
        job = await store.create_export(form, extra)
        log.info("monitor: export started", job_id=job["id"], start=str(form.start), end=str(form.end))
        return {"job": job}

    async def _mapping(self, store: ActionStore, request: Request) -> Json:
        raw = await request.body()
        return {"mapping": await self.ops.install_mapping(raw, self.actor)}

    async def _validate_schema(self, store: ActionStore, request: Request) -> Json:
        report = await self.ops.validate_schema()
        await store.record("console.validate_schema", {
            "ok": report.get("ok"), "findings": len(report.get("findings") or ())})
        return report

    async def _reload_cache(self, store: ActionStore, request: Request) -> Json:
        outcome = await self.ops.reload_cache()
        await store.record("console.reload_cache", {"ok": outcome.get("ok"), "seconds": outcome.get("seconds")})
        return outcome

    async def _test_connection(self, store: ActionStore, request: Request) -> Json:
        result = await self.ops.test_connection()
        await store.record("console.test_connection", {
            "ok": result.get("ok"), "failed": [c["name"] for c in result.get("checks", ()) if c["status"] == "fail"]})
        return result

    async def _verify(self, store: ActionStore, request: Request) -> Json:
        body = await body_of(request)
        if isinstance(body, dict) and body.get("repair"):
            result = await self.ops.repair(self.actor, bool(body.get("delete_extra")))
            # The repair's retry job audits itself (`retry.start`, `verify.repair`); this says who asked.
            await store.record("verify.run", {"repair": True, **{k: result.get(k) for k in (
                "missing", "extra", "different", "job_id", "deleted")}})
            return result
        result = await self.ops.verify()
        await store.record("verify.run", {k: result.get(k) for k in ("missing", "extra", "different")})
        return result

    async def _purge(self, store: ActionStore, request: Request) -> Json:
        age = purge_days(await body_of(request))
        return {"deleted": await store.purge(age), "older_than_days": age.days}

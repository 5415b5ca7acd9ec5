"""The console's operations (`streamer.monitor.operations.Operations`) over the settings: the
same functions `streamer validate schema|config`, `streamer schema reload-cache`, `streamer
verify [--repair]` and `streamer mapping import` call, their results as plain JSON for the page.
Wiring only, like the commands: the monitor imports no other feature (docs/design.md)."""

from __future__ import annotations

from typing import Any

import orjson

from connectors.redaction import mask_urls, masked_urls
from streamer.config import Settings
from streamer.monitor.app import JwtCheck
from streamer.monitor.operations import Json, Operations
from streamer.texts import Said


def _coded(name: str, text: Said | None) -> dict[str, Any]:
    """`<name>_code` and `<name>_params` for the page (None when the text has no code)."""
    data = masked_urls(text.json()) if text is not None else {"code": None, "params": None}
    return {f"{name}_code": data["code"], f"{name}_params": data["params"]}


def _checks_json(checks: Any) -> list[dict[str, Any]]:
    return [{"name": c.name, "status": c.status, "detail": mask_urls(c.detail), "fix": mask_urls(c.fix),
             **_coded("detail", c.detail_said), **_coded("fix", c.fix_said)} for c in checks]


def _differences(result: Any) -> Json:
    found = result.found
    return {"missing": found.missing, "extra": found.extra, "different": found.different,
            "first_missing": found.first_missing, "first_extra": found.first_extra,
            "first_different": found.first_different, "ranges_compared": found.ranges_compared,
            "destination_read": result.destination_read, "seconds": round(result.seconds, 3)}


def operations(settings: Settings) -> Operations:
    from schemas.mapping import FieldMapping
    from streamer.sink.mapping_admin import effective, install
    from streamer.validation.config_check import validate_config
    from streamer.validation.reload import reload_schema_cache
    from streamer.validation.report import overall
    from streamer.validation.schema_check import mapping_from, result_cache, validate_schema
    from streamer.verify.repair import verify_and_repair
    from streamer.verify.run import verify

    async def schema() -> Json:
        outcome = await validate_schema(settings, mapping_from(settings.sink), use_cache=False)
        report = outcome.report
        return {**report.model_dump(mode="json"), "ok": report.ok, "errors": len(report.errors),
                "warnings": len(report.warnings)}

    async def reload() -> Json:
        outcome = await reload_schema_cache(settings, mapping_from(settings.sink))
        result_cache(settings).clear()
        wait = outcome.wait
        ok = wait.ok and not outcome.not_in_database
        return {"ok": ok, "how": outcome.how, **_coded("how", outcome.how_said), "seconds": round(wait.seconds, 1),
                "missing": list(wait.missing),
                "not_in_database": list(outcome.not_in_database),
                "last_error": mask_urls(wait.last_error) if wait.last_error else None}

    async def connection() -> Json:
        checks = await validate_config(settings, mapping_from(settings.sink))
        return {"ok": overall(checks) == 0, "checks": _checks_json(checks)}

    async def run_verify() -> Json:
        return _differences(await verify(settings))

    async def repair(actor: str, delete_extra: bool) -> Json:
        result, filed, deleted = await verify_and_repair(settings, actor=actor, delete_extras=delete_extra)
        return {**_differences(result), "job_id": filed.job.id if filed.job else None, "filed": dict(filed.filed),
                "deleted": deleted}

    async def current() -> Json:
        mapping: FieldMapping = effective(settings)
        file = settings.sink.mapping_file
        return {"mapping": orjson.loads(mapping.to_json()), "file": str(file) if file else None}

    async def install_mapping(data: bytes, actor: str) -> Json:
        mapping = await install(settings, data, origin="the mapping from the console", actor=actor)
        return orjson.loads(mapping.to_json())  # type: ignore[no-any-return]

    return Operations(validate_schema=schema, reload_cache=reload, test_connection=connection, verify=run_verify,
                      repair=repair, current_mapping=current, install_mapping=install_mapping)


def jwt_check(settings: Settings) -> JwtCheck | None:
    """A service_role JWT as the console's credential, checked as the webhook checks its callers
    (`webhook.jwt_secret`, HS256; audience, issuer and leeway from the same section); None when no
    secret is configured."""
    w = settings.webhook
    if w.jwt_secret is None:
        return None
    from streamer.webhook.auth import Keys, verify_token
    from streamer.webhook.errors import AuthFailure

    keys = Keys(hs256_secret=w.jwt_secret.get_secret_value())

    def check(token: str) -> bool:
        try:
            verify_token(token, keys, allowed_roles=("service_role",), leeway=w.leeway_seconds,
                         audience=w.audience, issuer=w.issuer)
        except AuthFailure:
            return False
        return True

    return check

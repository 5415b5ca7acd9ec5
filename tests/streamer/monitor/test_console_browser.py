"""The console in headless Chromium against a real `streamer run` (sink, exporter, monitor), a
fresh source database, a scratch destination table behind the PostgREST-compatible server and
Kafka (issue 15's Done-when): start an export and see it complete; change and save a mapping,
and see an invalid one refused; validate the schema of a destination missing a column, see the
SQL, apply it and reload the cache; open an error, retry it and see it land; verify; switch the
language (the server's findings and check lines too); use it 420 px wide without scrolling sideways.

STREAMER_UPDATE_SCREENSHOT=1 writes the screenshots (pt-BR) to docs/screenshots/."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from devstack.stack import Endpoints
from tests.streamer.monitor.cdp import Page, chromium
from tests.streamer.monitor.console_stack import SCREENSHOTS, TOKEN, ConsoleStack, console_stack, day

pytestmark = [pytest.mark.integration]


@pytest.fixture(scope="module")
async def console(services: Endpoints, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[
        tuple[ConsoleStack, Page]]:
    home = tmp_path_factory.mktemp("console")
    async with console_stack(services, uuid.uuid4().hex[:10], home) as stack:
        async with chromium(home / "profile") as page:
            await page.call("Page.addScriptToEvaluateOnNewDocument", source=ERRORS_SEEN)
            await page.goto(f"{stack.service.url}/monitor")
            await page.wait_for("document.body?.dataset.loaded === 'true'")
            await page.click("#token")
            await page.type(TOKEN)
            await page.click("#save-token")
            await page.wait_for("document.querySelector('#open-export').disabled === false")
            yield stack, page
            await no_script_errors(page)


async def shot(page: Page, name: str, full: bool = True) -> None:
    png = await page.screenshot(full)
    assert png.startswith(b"\x89PNG")
    if os.environ.get("STREAMER_UPDATE_SCREENSHOT"):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        (SCREENSHOTS / f"{name}.png").write_bytes(png)


# Every page load collects its uncaught script errors, which the tests then require to be none.
ERRORS_SEEN = """window.__errors = [];
addEventListener("error", (e) => window.__errors.push(String(e.message)));
addEventListener("unhandledrejection", (e) => window.__errors.push(String(e.reason)));"""


async def no_script_errors(page: Page) -> None:
    assert await page.js("window.__errors || []") == []


async def fresh(page: Page, stack: ConsoleStack) -> None:
    """Check the page so far threw nothing, and load it again (the token stays in the tab's session)."""
    await no_script_errors(page)
    await page.goto(f"{stack.service.url}/monitor")
    await page.wait_for("document.body?.dataset.loaded === 'true'")


ROW = 'tr[data-job-id="{id}"]'


async def test_start_an_export_and_see_it_complete(console: tuple[ConsoleStack, Page]) -> None:
    """The form starts an export job; its row is there at once and shows the leads landing until
    it is completed; the destination holds them and the audit log says the monitor started it."""
    stack, page = console
    ids = await stack.insert_leads(10_000, 40, day(2024, 3, 10), etapa="novo")
    await fresh(page, stack)
    await page.click("#open-export")
    await page.wait_for("document.querySelector('#export-dialog').open")
    await page.fill("#export-start", "2024-03-01")
    await page.fill("#export-end", "2024-03-31")
    await page.fill("#export-field", "criado")
    await shot(page, "export-dialog")
    await page.click("#export-submit")
    job_id = await page.wait_for("document.querySelector('#jobs tbody tr')?.dataset.jobId")
    assert "criada" in await page.text("#message")
    row = ROW.format(id=job_id)
    await page.wait_for(f"document.querySelector('{row}')?.dataset.status === 'completed'", 90)
    assert await page.text(f"{row} .progress") == "40 / 40 (100,0%)"
    assert await page.text(f"{row} .status") == "concluído"
    assert set(ids) <= await stack.destination_ids()
    actor = await stack.source.fetchval(
        "SELECT actor FROM streamer_audit_log WHERE job_id = $1::uuid AND action = 'export.start'", job_id)
    assert actor == "monitor"


async def test_change_and_save_a_mapping_and_see_an_invalid_one_refused(console: tuple[ConsoleStack, Page]) -> None:
    """The dialog shows the mapping in use; a changed one is checked against the destination and
    saved (file and audit log); one naming a column the destination lacks is refused with the
    reason, and the file is left as it was."""
    stack, page = console
    await fresh(page, stack)
    await page.click("#open-mapping")
    await page.wait_for("document.querySelector('#mapping-dialog').open && "
                        "document.querySelector('#mapping-json').value.includes('fieldMappings')")
    await page.click("#mapping-add")
    await page.click("#mapping-rows tbody tr:last-child .source")
    await page.type("responsavel")
    await page.click("#mapping-rows tbody tr:last-child .target")
    await page.type("responsavel")
    await shot(page, "mapping-dialog")
    await page.click("#mapping-save")
    await page.wait_for("!document.querySelector('#mapping-dialog').open")
    assert "Mapeamento salvo (1 campos)" in await page.text("#message")
    assert b'"responsavel": "responsavel"' in stack.mapping_file.read_bytes() or \
        b'"responsavel":"responsavel"' in stack.mapping_file.read_bytes()
    audited = await stack.source.fetchval(
        "SELECT parameters->>'fieldMappings' FROM streamer_audit_log WHERE action = 'mapping.import' "
        "AND actor = 'monitor' ORDER BY at DESC LIMIT 1")
    assert audited == "1"

    saved = stack.mapping_file.read_bytes()
    await page.click("#open-mapping")
    await page.wait_for("document.querySelector('#mapping-dialog').open && "
                        "document.querySelectorAll('#mapping-rows tbody tr').length === 1")
    await page.click("#mapping-json-box summary")
    await page.wait_for("document.querySelector('#mapping-json-box').open")
    await page.fill("#mapping-json", '{"fieldMappings": {"celular": "phone"}}')
    await page.click("#mapping-from-json")
    await page.wait_for("document.querySelector('#mapping-rows tbody tr .target')?.value === 'phone'")
    await page.click("#mapping-save")
    refusal = await page.wait_for("!document.querySelector('#mapping-error').hidden && "
                                  "document.querySelector('#mapping-error').textContent")
    assert "Mapeamento recusado" in refusal and "phone" in refusal
    assert await page.js("document.querySelector('#mapping-dialog').open") is True
    assert stack.mapping_file.read_bytes() == saved
    await page.click("#mapping-form button.cancel")


async def test_open_an_error_retry_it_and_see_it_land(console: tuple[ConsoleStack, Page]) -> None:
    """A lead the destination refuses (a CHECK constraint) is filed; its drawer shows the HTTP
    status, the response, the fields sent and the lead with personal data masked. Once the
    destination accepts it, retrying it from the drawer (confirmed) lands it and its error goes."""
    stack, page = console
    table = stack.table
    await stack.destination.execute(f"ALTER TABLE {table} ADD CONSTRAINT no_blocked CHECK (etapa <> 'bloqueado')")
    (lead,) = await stack.insert_leads(20_000, 1, day(2024, 5, 5), etapa="bloqueado", celular="11999998888")
    job = (await stack.api("POST", "/monitor/api/exports",
                           {"start": "2024-05-01", "end": "2024-05-31", "date_field": "criado"}))["job"]
    await stack.wait_job(job["id"])
    await fresh(page, stack)
    error_id = await page.wait_for(
        "[...document.querySelectorAll('#errors tr[data-error-id]')]"
        f".find(r => r.cells[2].textContent === '{lead}')?.dataset.errorId")
    await page.click(f'#errors tr[data-error-id="{error_id}"]')
    await page.wait_for(f"!document.querySelector('#drawer').hidden && "
                        f"document.querySelector('#drawer').dataset.errorId === '{error_id}'")
    drawer = await page.text("#drawer")
    facts = await page.text("#drawer-facts")
    assert "400" in facts
    body = await page.text("#drawer-body")
    assert "23514" in body and "no_blocked" in body  # the code and the constraint stay, values go
    assert "etapa" in await page.text("#drawer-fields")
    assert "11999998888" not in drawer and f"Lead {lead}" not in drawer and "***" in drawer
    assert "bloqueado" in await page.text("#drawer-snapshot")
    await shot(page, "error-drawer")

    await stack.destination.execute(f"ALTER TABLE {table} DROP CONSTRAINT no_blocked")
    await page.click("#drawer-retry")
    await page.wait_for("document.querySelector('#confirm-dialog').open")
    assert str(lead) in await page.text("#confirm-text")
    await page.click("#confirm-yes")
    await page.wait_for("document.querySelector('#message').textContent.includes('reenvio')")
    await page.wait_for(f"!document.querySelector('#errors tr[data-error-id=\"{error_id}\"]')", 90)
    assert lead in await stack.destination_ids()
    retried = await stack.source.fetchval(
        "SELECT count(*) FROM streamer_audit_log WHERE action = 'retry.start' AND actor = 'monitor'")
    assert retried >= 1


async def test_filter_errors_and_purge_old_ones(console: tuple[ConsoleStack, Page]) -> None:
    """The filters narrow the list by HTTP status and time; "Limpar erros antigos" (confirmed)
    deletes the rows older than the days given, and only those, and is audited."""
    stack, page = console
    old, recent = await stack.source.fetch(
        "INSERT INTO gestao_scouter_export_errors (lead_id, error_message, response_status, created_at) VALUES "
        "(91001, 'old refusal', 409, now() - interval '100 days'), (91002, 'recent refusal', 422, now()) "
        "RETURNING id")
    await fresh(page, stack)
    await page.fill("#filter-status", "409")
    await page.click("#error-filters button[type=submit]")
    await page.wait_for("[...document.querySelectorAll('#errors tbody tr')].map(r => r.dataset.errorId)"
                        f".join() === '{old['id']}'")
    await page.click("#filter-clear")
    await page.fill("#filter-since", "2020-01-01T00:00")
    await page.fill("#filter-until", "2021-01-01T00:00")
    await page.click("#error-filters button[type=submit]")
    await page.wait_for("document.querySelectorAll('#errors tbody tr').length === 0 && "
                        "!document.querySelector('#errors-empty').hidden")
    await page.click("#filter-clear")
    await page.wait_for(f"document.querySelector('#errors tr[data-error-id=\"{recent['id']}\"]') !== null")

    await page.fill("#purge-days", "90")
    await page.click("#purge")
    await page.wait_for("document.querySelector('#confirm-dialog').open")
    assert "90" in await page.text("#confirm-text")
    await page.click("#confirm-yes")
    await page.wait_for("document.querySelector('#message').textContent.includes('apagados')")
    assert (await page.text("#message")).startswith("1 erros")
    left = {r["id"] for r in await stack.source.fetch("SELECT id FROM gestao_scouter_export_errors")}
    assert old["id"] not in left and recent["id"] in left
    assert await stack.source.fetchval(
        "SELECT parameters->>'deleted' FROM streamer_audit_log WHERE action = 'errors.purge' AND actor = 'monitor'"
    ) == "1"
    await stack.source.execute("DELETE FROM gestao_scouter_export_errors WHERE id = $1", recent["id"])


async def test_validate_schema_shows_the_sql_and_reload_cache_brings_the_column(
        console: tuple[ConsoleStack, Page]) -> None:
    """The seed's troubleshooting guide: "Validar Schema" on a destination missing a column shows
    the finding in Portuguese (in English after a switch, in the CLI's words) and the SQL (with a
    copy button); once it is applied, "Recarregar Cache" waits until the API shows the column and
    says so once, how it asked in Portuguese too; validating again passes."""
    stack, page = console
    await stack.destination.execute(f"ALTER TABLE {stack.table} DROP COLUMN instagram")
    await stack.pair.reload_destination_schema()
    await fresh(page, stack)
    await page.click("#run-schema")
    sql = await page.wait_for("document.querySelector('#tool-result').dataset.kind === 'schema' && "
                              "document.querySelector('#fix-sql')?.textContent", 60)
    assert "ADD COLUMN" in sql and "instagram" in sql
    assert await page.js("document.querySelector('#tool-result').dataset.ok") == "false"
    finding = ("[...document.querySelectorAll('#tool-result .findings li')]"
               ".find(l => l.querySelector('code').textContent === 'instagram')")
    assert await page.js(f"{finding}.textContent") == \
        "instagram erro: o destino não tem a coluna 'instagram': as gravações falham com PGRST204"
    await page.fill("#lang", "en")
    await page.wait_for("document.body.dataset.lang === 'en'")
    assert await page.js(f"{finding}.textContent") == \
        "instagram error: the destination has no column 'instagram': writes fail with PGRST204"
    assert "ADD COLUMN" in await page.text("#fix-sql")  # the SQL stays as the server wrote it
    await page.fill("#lang", "pt-BR")
    await page.wait_for("document.body.dataset.lang === 'pt-BR'")
    assert "o destino não tem a coluna 'instagram'" in await page.js(f"{finding}.textContent")
    await page.click("#copy-sql")
    await page.wait_for("document.querySelector('#copy-sql').textContent === 'Copiado'")
    await shot(page, "validate-schema")

    await stack.destination.execute(sql)
    await page.click("#run-reload")
    outcome = await page.wait_for("document.querySelector('#tool-result').dataset.kind === 'reload-cache' && "
                                  "document.querySelector('#tool-result').dataset.state !== 'running' && "
                                  "document.querySelector('#tool-result h3').textContent", 60)
    assert "Cache recarregado" in outcome
    assert await page.text("#tool-result p.muted") == "enviado NOTIFY pgrst, 'reload schema' no banco do destino"
    assert await page.js("document.querySelector('#tool-result').dataset.ok") == "true"
    await page.click("#run-schema")
    await page.wait_for("document.querySelector('#tool-result').dataset.kind === 'schema' && "
                        "document.querySelector('#tool-result').dataset.state !== 'running' && "
                        "document.querySelector('#tool-result').dataset.ok === 'true'", 60)
    actions = [r["action"] for r in await stack.source.fetch(
        "SELECT action FROM streamer_audit_log WHERE action LIKE 'console.%' ORDER BY id")]
    assert actions[-3:] == ["console.validate_schema", "console.reload_cache", "console.validate_schema"]


async def test_test_connection_and_verify_with_repair(console: tuple[ConsoleStack, Page]) -> None:
    """"Testar Conexão" lists the `validate config` checks in place; "Verificar" finds a lead the
    destination lost and the confirmed repair lands it again."""
    stack, page = console
    ids = await stack.insert_leads(30_000, 3, day(2024, 7, 1))
    job = (await stack.api("POST", "/monitor/api/exports",
                           {"start": "2024-07-01", "end": "2024-07-01", "date_field": "criado"}))["job"]
    await stack.wait_job(job["id"])
    await stack.destination.execute(f"DELETE FROM {stack.table} WHERE id = $1", ids[1])
    await fresh(page, stack)
    await page.click("#run-connection")
    await page.wait_for("document.querySelector('#tool-result').dataset.kind === 'connection' && "
                        "document.querySelectorAll('#tool-result .checks li').length > 3", 60)
    statuses = await page.js("[...document.querySelectorAll('#tool-result .checks li')].map(l => l.dataset.status)")
    assert "ok" in statuses and "fail" not in statuses
    lines = await page.js("[...document.querySelectorAll('#tool-result .checks li')].map(l => l.textContent)")
    assert any("nenhuma linha gravada" in line for line in lines), lines  # the write check, in Portuguese

    await page.click("#run-verify")
    await page.wait_for("document.querySelector('#tool-result').dataset.kind === 'verify' && "
                        "document.querySelector('#tool-result').dataset.state !== 'running'", 60)
    missing = await page.text('#tool-result li[data-kind="missing"] span:last-child')
    assert missing.startswith("1") and str(ids[1]) in missing
    await page.click("#verify-repair")
    await page.wait_for("document.querySelector('#confirm-dialog').open")
    await page.click("#confirm-yes")
    await page.wait_for("document.querySelector('#tool-result').textContent.includes('Reparo em andamento')", 60)
    for _ in range(300):
        if ids[1] in await stack.destination_ids():
            break
        await asyncio.sleep(0.3)
    assert ids[1] in await stack.destination_ids()


async def test_switch_language_and_back(console: tuple[ConsoleStack, Page]) -> None:
    """pt-BR by default; English on a switch (words, numbers and dates), remembered on reload."""
    stack, page = console
    await fresh(page, stack)
    assert await page.js("document.documentElement.lang") == "pt-BR"
    assert await page.text("#jobs-title") == "Jobs de exportação"
    # The previous test's repair may still be landing: the screenshot shows the console at rest.
    await page.wait_for("document.querySelectorAll('#jobs tbody tr').length > 0 && ![...document.querySelectorAll("
                        "'#jobs tbody tr')].some(r => ['pending', 'running'].includes(r.dataset.status))", 60)
    await shot(page, "console")
    await page.fill("#lang", "en")
    await page.wait_for("document.body.dataset.lang === 'en'")
    assert await page.text("#jobs-title") == "Export jobs"
    assert await page.text("#run-schema") == "Validate schema"
    await page.wait_for("[...document.querySelectorAll('#jobs .progress')].some(p => p.textContent.includes('100.0%'))")
    when = await page.js("document.querySelector('#jobs tbody tr td:nth-child(9)').textContent")
    assert "/" in when and ("AM" in when or "PM" in when)  # en: 3/12/24, 9:00:00 AM
    await fresh(page, stack)
    assert await page.text("#jobs-title") == "Export jobs"
    await page.fill("#lang", "pt-BR")
    await page.wait_for("document.body.dataset.lang === 'pt-BR'")
    assert await page.text("#run-schema") == "Validar Schema"


async def test_420_px_wide_without_horizontal_scrolling(console: tuple[ConsoleStack, Page]) -> None:
    """At 420 px the page (jobs and errors as cards, charts one per row) never scrolls sideways."""
    stack, page = console
    await page.viewport(420, 900, mobile=True)
    try:
        await fresh(page, stack)
        await page.wait_for("document.querySelectorAll('#jobs tbody tr').length > 0")
        await page.wait_for("document.querySelector('#chart-landed .uplot') !== null")
        width = await page.js("[document.scrollingElement.scrollWidth, window.innerWidth]")
        assert width[0] <= width[1], width
        await page.js("window.scrollTo(0, document.querySelector('#jobs-title').offsetTop - 8)")
        await shot(page, "mobile-420", full=False)
        await page.click("#open-export")
        await page.wait_for("document.querySelector('#export-dialog').open")
        width = await page.js("[document.scrollingElement.scrollWidth, window.innerWidth]")
        assert width[0] <= width[1], width
        await page.click("#export-form button.cancel")
    finally:
        await page.viewport(1280, 900)


def test_screenshots_are_where_the_readme_shows_them() -> None:
    """Every screenshot the README shows exists (they are made by this module, not by hand)."""
    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    for name in ("console", "export-dialog", "mapping-dialog", "validate-schema", "error-drawer", "mobile-420"):
        assert f"docs/screenshots/{name}.png" in readme
        assert (SCREENSHOTS / f"{name}.png").is_file()

// The sync monitor page: polls /readyz and /monitor/api/*, renders with textContent only (no
// HTML from data), and sends actions with the admin token as a Bearer header. No build step.
// Words come from the catalogue (i18n.js: I18N.t), numbers and dates from I18N.fmt.
"use strict";

const REFRESH_MS = 3000;
const TOKEN_KEY = "streamer.monitor.token";
const $ = (sel) => document.querySelector(sel);
const t = (key, vars) => I18N.t(key, vars);
const fmt = I18N.fmt;

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("data-")) node.setAttribute(key, value);
    else node[key] = value;
  }
  for (const child of children) node.append(child);
  return node;
}

function token() { return sessionStorage.getItem(TOKEN_KEY) || ""; }
const short = (id) => (id ? id.slice(0, 8) : "—");

function say(text, isError = false) {
  const box = $("#message");
  box.textContent = text;
  box.className = isError ? "error" : "";
  box.hidden = !text;
}

async function getJSON(url) {
  const response = await fetch(url, { cache: "no-store" });
  const body = await response.json().catch(() => ({}));
  if (!response.ok && url !== "/readyz") throw new Error(I18N.said(body.code, body.params, body.error) || `${url}: HTTP ${response.status}`);
  return body;
}

// An action: POST (or PUT) with the admin token; resolves to {ok, status, body}.
async function send(url, payload, method = "POST") {
  const headers = { Authorization: `Bearer ${token()}` };
  let body;
  if (payload !== undefined) {
    headers["Content-Type"] = "application/json";
    body = typeof payload === "string" ? payload : JSON.stringify(payload);
  }
  const response = await fetch(url, { method, headers, body });
  const answer = await response.json().catch(() => ({}));
  if (response.status === 401) { sessionStorage.removeItem(TOKEN_KEY); showTokenState(); }
  return { ok: response.ok, status: response.status, body: answer };
}

// A refusal's reason in the chosen language (its code through the catalogue), else the server's words.
function refusalText(result) {
  return I18N.said(result.body.code, result.body.params, result.body.error) || `HTTP ${result.status}`;
}

// A confirmation in the page's own dialog (window.confirm would block the page's updates).
function confirmed(text) {
  const dialog = $("#confirm-dialog");
  $("#confirm-text").textContent = text;
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "yes"), { once: true });
    dialog.returnValue = "";
    dialog.showModal();
  });
}

function fillKV(list, rows) {
  list.replaceChildren(...rows.map(([label, value, tone]) =>
    el("li", {}, el("span", { text: label }), el("span", { text: value, class: tone || "" }))));
}

// --- health cards -------------------------------------------------------------------------------

function renderHealth(ready, health) {
  const states = ready.components || {};
  const up = health.components || {};
  const names = [...new Set([...Object.keys(states), ...Object.keys(up)])].sort();
  const rows = names.map((name) => {
    const ok = states[name] !== false && up[name] !== false;
    return [name, ok ? t("state.ready") : t("state.not_ready"), ok ? "good" : "bad"];
  });
  rows.unshift([t("cards.service"), ready.ready ? t("state.ready") : t("state.not_ready"), ready.ready ? "good" : "bad"]);
  fillKV($("#components"), rows);
  const absent = () => [[t("cards.absent"), t("cards.absent_hint"), "muted"]];
  if (!("capture" in up)) fillKV($("#capture"), absent());
  else renderCapture(health.capture || {});
  if (!("sink" in up)) fillKV($("#sink"), absent());
  else renderSink(health.sink || {});
}

function renderCapture(c) {
  const age = c.last_event_timestamp ? Date.now() / 1000 - c.last_event_timestamp : null;
  $("#capture").dataset.slot = c.slot_active === 1 ? "active" : "inactive";
  fillKV($("#capture"), [
    [t("capture.slot"), c.slot_active === 1 ? t("capture.active") : t("capture.inactive"), c.slot_active === 1 ? "good" : "warn"],
    [t("capture.leader"), c.leader === 1 ? t("capture.this_instance") : t("capture.standby")],
    [t("capture.wal"), fmt.bytes(c.retained_wal_bytes), c.retained_wal_bytes > 1073741824 ? "bad" : ""],
    [t("capture.last_change"), age === null ? "—" : t("unit.ago", { age: fmt.age(age) }), age > 900 ? "warn" : ""],
    [t("capture.changes"), fmt.int(c.changes)],
  ]);
}

function renderSink(s) {
  fillKV($("#sink"), [
    [t("sink.landed"), fmt.int(s.landed)],
    [t("sink.failed"), fmt.int(s.failed), s.failed ? "bad" : ""],
    [t("sink.dead_lettered"), fmt.int(s.dead_lettered), s.dead_lettered ? "bad" : ""],
    [t("sink.auth_failures"), fmt.int(s.auth_failures), s.auth_failures ? "bad" : ""],
    [t("sink.lag"), fmt.int(s.consumer_lag), s.consumer_lag > 1000 ? "warn" : ""],
    [t("sink.paused"), fmt.int(s.partitions_paused), s.partitions_paused ? "warn" : ""],
  ]);
}

function renderSummary(summary) {
  fillKV($("#summary"), [
    [t("summary.active"), `${fmt.int(summary.active)} / ${fmt.int(summary.jobs)}`],
    [t("summary.success"), fmt.pct(summary.success_rate),
      summary.success_rate === null ? "" : summary.success_rate < 0.95 ? "bad" : "good"],
    [t("summary.landed_errors"), `${fmt.int(summary.exported)} / ${fmt.int(summary.errors)}`],
    [t("summary.errors_24h"), fmt.int(summary.errors_24h), summary.errors_24h ? "warn" : ""],
  ]);
  const total = summary.exported + summary.errors;
  $("#split-ok").style.flex = String(total ? summary.exported : 1);
  $("#split-err").style.flex = String(total ? summary.errors : 0);
}

// --- jobs ---------------------------------------------------------------------------------------

function progressCell(job) {
  const bar = el("span", { class: "bar" });
  if (job.total_leads > 0) {
    const landed = el("span");
    landed.style.width = `${Math.min(100, (100 * job.exported_leads) / job.total_leads)}%`;
    const failed = el("span", { class: "err" });
    failed.style.left = landed.style.width;
    failed.style.width = `${Math.min(100, (100 * job.error_leads) / job.total_leads)}%`;
    bar.append(landed, failed);
  }
  const done = job.exported_leads + job.error_leads;
  const label = job.total_leads > 0 ? `${fmt.int(done)} / ${fmt.int(job.total_leads)} (${fmt.pct(job.progress)})`
    : `${fmt.int(done)} / ?`;
  return el("td", { class: "progress", "data-label": t("jobs.progress") }, bar,
    el("span", { class: "bar-label", text: label }));
}

const JOB_ACTIONS = ["pause", "resume", "reset", "cancel", "retry"];

function renderJobs(jobs) {
  const body = $("#jobs tbody");
  const unlocked = Boolean(token());
  body.replaceChildren(...jobs.map((job) => {
    const actions = el("td", { class: "actions", "data-label": t("jobs.actions") });
    for (const action of JOB_ACTIONS) {
      const allowed = action === "retry" ? job.error_leads > 0 && job.kind !== "retry" : (job.actions || []).includes(action);
      if (action === "retry" && !allowed) continue;
      const button = el("button", {
        type: "button", text: t(`action.${action}`), disabled: !(allowed && unlocked), "data-action": action,
        title: !allowed ? t("action.not_now", { status: t(`status.${job.status}`) })
          : unlocked ? t(`action.${action}_hint`) : t("token.needed"),
      });
      button.addEventListener("click", () => act(job, action));
      actions.append(button);
    }
    const range = job.start_date || job.end_date ? `${fmt.day(job.start_date)} → ${fmt.day(job.end_date)}` : t("jobs.all");
    return el("tr", { "data-job-id": job.id, "data-status": job.status },
      el("td", { class: "id", text: short(job.id), title: job.id, "data-label": t("jobs.job") }),
      el("td", { text: t(`kind.${job.kind}`), "data-label": t("jobs.kind") }),
      el("td", { "data-label": t("jobs.status") },
        el("span", { class: `badge status ${job.status}`, text: t(`status.${job.status}`), "data-status": job.status })),
      el("td", { text: range, "data-label": t("jobs.range") }),
      progressCell(job),
      el("td", { class: "num landed", text: fmt.int(job.exported_leads), "data-label": t("jobs.landed") }),
      el("td", { class: `num ${job.error_leads ? "bad" : ""}`, text: fmt.int(job.error_leads), "data-label": t("jobs.errors") }),
      el("td", { class: "num", text: fmt.pct(job.success_rate), "data-label": t("jobs.success") }),
      el("td", { text: fmt.when(job.updated_at), "data-label": t("jobs.updated") }),
      actions);
  }));
  $("#jobs-empty").hidden = jobs.length > 0;
}

async function act(job, action) {
  const name = t(`action.${action}`);
  if (action === "reset" && !(await confirmed(t("confirm.reset", { job: short(job.id) })))) return;
  if (action === "retry" && !(await confirmed(t("confirm.retry_job", { job: short(job.id), n: fmt.int(job.error_leads) })))) return;
  const result = await send(`/monitor/api/jobs/${encodeURIComponent(job.id)}/${action}`);
  if (!result.ok) say(t("action.refused", { job: short(job.id), action: name, reason: refusalText(result) }), true);
  else if (action === "retry") say(t("retry.created", { job: short(result.body.job.id), n: fmt.int(result.body.rows) }));
  else say(t("action.done", { job: short(job.id), action: name, status: t(`status.${result.body.job.status}`) }));
  await refresh();
}

// --- errors -------------------------------------------------------------------------------------

// A datetime-local value is São Paulo's wall clock (UTC-3, no daylight saving since 2019).
const spTime = (value) => (value ? `${value}:00-03:00` : "");

function errorQuery() {
  const params = new URLSearchParams({ limit: "50" });
  const job = $("#filter-job").value.trim();
  const status = $("#filter-status").value.trim();
  if (job) params.set("job", job);
  if (status) params.set("status", status);
  if ($("#filter-since").value) params.set("since", spTime($("#filter-since").value));
  if ($("#filter-until").value) params.set("until", spTime($("#filter-until").value));
  return `/monitor/api/errors?${params}`;
}

function renderErrors(errors) {
  $("#errors tbody").replaceChildren(...errors.map((e) => {
    const row = el("tr", { "data-error-id": String(e.id), class: "clickable", tabIndex: 0, title: t("errors.open") },
      el("td", { text: fmt.when(e.created_at), "data-label": t("errors.when") }),
      el("td", { class: "id", text: short(e.job_id), title: e.job_id || "", "data-label": t("errors.job") }),
      el("td", { class: "num", text: String(e.lead_id), "data-label": t("errors.lead") }),
      el("td", { class: `num ${e.response_status >= 400 ? "bad" : ""}`, text: e.response_status ?? "—", "data-label": t("errors.status") }),
      el("td", { class: "msg", text: I18N.said(e.error_code, {}, e.error_message), "data-label": t("errors.message") }));
    row.addEventListener("click", () => openError(e.id));
    row.addEventListener("keydown", (event) => { if (event.key === "Enter") openError(e.id); });
    return row;
  }));
  $("#errors-empty").hidden = errors.length > 0;
}

let drawerError = null;

async function openError(id) {
  let found;
  try {
    found = (await getJSON(`/monitor/api/errors/${id}`)).error_row;
  } catch (err) {
    say(err.message, true);
    return;
  }
  drawerError = found;
  $("#drawer").dataset.errorId = String(found.id);
  fillKV($("#drawer-facts"), [
    [t("drawer.id"), String(found.id)],
    [t("errors.when"), fmt.when(found.created_at)],
    [t("errors.job"), found.job_id || "—"],
    [t("errors.lead"), String(found.lead_id)],
    [t("drawer.http"), found.response_status === null ? "—" : String(found.response_status), found.response_status >= 400 ? "bad" : ""],
    [t("drawer.retry_job_id"), found.retry_job_id ? short(found.retry_job_id) : "—"],
  ]);
  $("#drawer-message").textContent = I18N.said(found.error_code, {}, found.error_message) || "—";
  $("#drawer-body").textContent = found.response_body || "—";
  $("#drawer-fields").textContent = Array.isArray(found.fields_sent) ? found.fields_sent.join(", ")
    : JSON.stringify(found.fields_sent ?? "—");
  const snapshot = found.lead_snapshot && typeof found.lead_snapshot === "object" ? found.lead_snapshot : {};
  fillKV($("#drawer-snapshot"), Object.entries(snapshot).map(([k, v]) =>
    [k, v === null ? "null" : typeof v === "object" ? JSON.stringify(v) : String(v)]));
  $("#drawer-retry-job").disabled = !found.job_id || !token();
  $("#drawer-retry").disabled = !token();
  $("#drawer").hidden = false;
  $("#drawer-close").focus();
}

function closeDrawer() { $("#drawer").hidden = true; drawerError = null; }

async function retryError() {
  const e = drawerError;
  if (!e || !(await confirmed(t("confirm.retry_one", { lead: e.lead_id })))) return;
  const result = await send(`/monitor/api/errors/${e.id}/retry`);
  if (result.ok) { say(t("retry.created", { job: short(result.body.job.id), n: fmt.int(result.body.rows) })); closeDrawer(); }
  else say(t("retry.refused", { reason: refusalText(result) }), true);
  await refresh();
}

async function retryErrorsJob() {
  const e = drawerError;
  if (!e || !e.job_id || !(await confirmed(t("confirm.retry_job", { job: short(e.job_id), n: "…" })))) return;
  const result = await send(`/monitor/api/jobs/${encodeURIComponent(e.job_id)}/retry`);
  if (result.ok) { say(t("retry.created", { job: short(result.body.job.id), n: fmt.int(result.body.rows) })); closeDrawer(); }
  else say(t("retry.refused", { reason: refusalText(result) }), true);
  await refresh();
}

async function purge(event) {
  event.preventDefault();
  const days = Number($("#purge-days").value);
  if (!(await confirmed(t("confirm.purge", { days: fmt.int(days) })))) return;
  const result = await send("/monitor/api/errors/purge", { older_than_days: days });
  if (result.ok) say(t("purge.done", { n: fmt.int(result.body.deleted), days: fmt.int(days) }));
  else say(t("purge.refused", { reason: refusalText(result) }), true);
  await refresh();
}

// --- export -------------------------------------------------------------------------------------

function openExport() {
  const today = new Date().toISOString().slice(0, 10);
  if (!$("#export-start").value) $("#export-start").value = today.slice(0, 8) + "01";
  if (!$("#export-end").value) $("#export-end").value = today;
  $("#export-error").hidden = true;
  $("#export-dialog").showModal();
}

async function submitExport(event) {
  event.preventDefault();
  const payload = { start: $("#export-start").value, end: $("#export-end").value, date_field: $("#export-field").value };
  const text = $("#export-mapping").value.trim();
  if (text) {
    try { payload.mapping = JSON.parse(text); } catch (err) {
      showError("#export-error", t("mapping.bad_json", { reason: err.message }));
      return;
    }
  }
  const result = await send("/monitor/api/exports", payload);
  if (!result.ok) { showError("#export-error", refusalText(result)); return; }
  $("#export-dialog").close();
  say(t("export.started", { job: short(result.body.job.id) }));
  renderJobs([result.body.job, ...lastJobs.filter((j) => j.id !== result.body.job.id)]);
  await refresh();
}

function showError(selector, text) {
  const box = $(selector);
  box.textContent = text;
  box.hidden = false;
}

// --- mapping ------------------------------------------------------------------------------------

function mappingRow(source = "", target = "") {
  const remove = el("button", { type: "button", text: "×", title: t("mapping.remove"), class: "remove" });
  const row = el("tr", {},
    el("td", {}, el("input", { type: "text", value: source, class: "source", placeholder: "celular" })),
    el("td", {}, el("input", { type: "text", value: target, class: "target", placeholder: "phone" })),
    el("td", {}, remove));
  remove.addEventListener("click", () => row.remove());
  return row;
}

function showMapping(mapping) {
  const pairs = Object.entries(mapping.fieldMappings || {});
  $("#mapping-rows tbody").replaceChildren(...pairs.map(([s, d]) => mappingRow(s, d)));
  $("#mapping-unmapped").value = mapping.unmappedColumns || "pass";
  $("#mapping-json").value = JSON.stringify(mapping, null, 2);
}

function mappingFromRows() {
  const fieldMappings = {};
  for (const row of $("#mapping-rows tbody").rows) {
    const source = row.querySelector(".source").value.trim();
    const target = row.querySelector(".target").value.trim();
    if (source || target) fieldMappings[source] = target;
  }
  return { fieldMappings, unmappedColumns: $("#mapping-unmapped").value };
}

async function openMapping() {
  $("#mapping-error").hidden = true;
  try {
    const current = await getJSON("/monitor/api/mapping");
    showMapping(current.mapping);
    $("#mapping-file").textContent = current.file ? t("mapping.file", { file: current.file }) : t("mapping.no_file");
  } catch (err) {
    showError("#mapping-error", err.message);
  }
  $("#mapping-dialog").showModal();
}

function importMappingJSON() {
  try {
    showMapping(JSON.parse($("#mapping-json").value));
    $("#mapping-error").hidden = true;
  } catch (err) {
    showError("#mapping-error", t("mapping.bad_json", { reason: err.message }));
  }
}

function downloadMapping() {
  const blob = new Blob([JSON.stringify(mappingFromRows(), null, 2) + "\n"], { type: "application/json" });
  const link = el("a", { href: URL.createObjectURL(blob), download: "mapping.json" });
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 1000);
}

async function uploadMapping(event) {
  const file = event.target.files[0];
  if (!file) return;
  $("#mapping-json").value = await file.text();
  $("#mapping-json-box").open = true;
  importMappingJSON();
}

async function saveMapping(event) {
  event.preventDefault();
  const mapping = mappingFromRows();
  $("#mapping-json").value = JSON.stringify(mapping, null, 2);
  const result = await send("/monitor/api/mapping", mapping, "PUT");
  if (!result.ok) { showError("#mapping-error", t("mapping.refused", { reason: refusalText(result) })); return; }
  $("#mapping-dialog").close();
  say(t("mapping.saved", { n: fmt.int(Object.keys(result.body.mapping.fieldMappings || {}).length) }));
}

// --- checks: schema, cache, connection, verify ----------------------------------------------------

function resultBox(kind, ok, title) {
  const box = $("#tool-result");
  box.hidden = false;
  box.dataset.kind = kind;
  box.dataset.ok = String(ok);
  box.dataset.state = "done";
  box.className = `result ${ok ? "ok" : "fail"}`;
  box.replaceChildren(el("h3", { text: title }));
  return box;
}

function copyButton(text) {
  const button = el("button", { type: "button", text: t("schema.copy"), id: "copy-sql" });
  button.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(text);
    } catch {
      const area = el("textarea", { value: text });
      document.body.append(area);
      area.select();
      document.execCommand("copy");
      area.remove();
    }
    button.textContent = t("schema.copied");
  });
  return button;
}

function renderSchema(report) {
  const box = resultBox("schema", report.ok, report.ok ? t("schema.ok", { table: report.table })
    : t("schema.bad", { table: report.table, errors: fmt.int(report.errors), warnings: fmt.int(report.warnings) }));
  if (report.findings.length) {
    box.append(el("ul", { class: "findings" }, ...report.findings.map((f) =>
      el("li", { class: f.severity === "error" ? "bad" : "warn" },
        el("code", { text: f.column }), ` ${t(`severity.${f.severity}`)}: ${I18N.said(f.code, f.params, f.message)}`))));
  }
  if (report.fix_sql) {
    box.append(el("p", { text: t("schema.sql_help") }), el("pre", { id: "fix-sql", text: report.fix_sql }),
      copyButton(report.fix_sql));
  }
}

function renderReload(outcome) {
  const box = resultBox("reload-cache", outcome.ok, outcome.ok ? t("reload.ok", { s: fmt.num(outcome.seconds, 1) })
    : t("reload.bad"));
  box.append(el("p", { class: "muted", text: I18N.said(outcome.how_code, outcome.how_params, outcome.how) }));
  if (outcome.not_in_database.length) box.append(el("p", { text: t("reload.not_in_db", { cols: outcome.not_in_database.join(", ") }) }));
  if (outcome.missing.length) box.append(el("p", { text: t("reload.missing", { s: fmt.num(outcome.seconds, 0), cols: outcome.missing.join(", ") }) }));
}

function renderConnection(result) {
  const box = resultBox("connection", result.ok, result.ok ? t("connection.ok") : t("connection.bad"));
  box.append(el("ul", { class: "checks" }, ...result.checks.map((c) =>
    el("li", { "data-status": c.status },
      el("span", { class: `badge check ${c.status}`, text: t(`check.${c.status}`) }), " ",
      el("strong", { text: c.name }), ` — ${I18N.said(c.detail_code, c.detail_params, c.detail)}`,
      c.fix ? el("div", { class: "muted", text: I18N.said(c.fix_code, c.fix_params, c.fix) }) : ""))));
}

function renderVerify(found, repaired) {
  const total = found.missing + found.extra + found.different;
  const box = resultBox("verify", total === 0, total === 0 ? t("verify.same") : t("verify.differ", { n: fmt.int(total) }));
  const rows = [["missing", found.missing, found.first_missing], ["extra", found.extra, found.first_extra],
    ["different", found.different, found.first_different]];
  box.append(el("ul", { class: "kv verify" }, ...rows.map(([kind, n, first]) =>
    el("li", { "data-kind": kind }, el("span", { text: t(`verify.${kind}`) }),
      el("span", { class: n ? "bad" : "good", text: fmt.int(n) + (first.length ? ` (${first.slice(0, 5).join(", ")}${n > 5 ? " …" : ""})` : "") })))));
  box.append(el("p", { class: "muted", text: t("verify.how", { s: fmt.num(found.seconds, 2), read: found.destination_read }) }));
  if (repaired) {
    box.append(el("p", { text: found.job_id ? t("verify.repairing", { job: short(found.job_id) }) : t("verify.nothing") }));
  } else if (found.missing + found.different > 0) {
    const repair = el("button", { type: "button", id: "verify-repair", class: "primary", text: t("verify.repair") });
    repair.addEventListener("click", async () => {
      if (!(await confirmed(t("confirm.repair", { n: fmt.int(found.missing + found.different) })))) return;
      await runVerify(true);
    });
    box.append(repair);
  }
}

// The last check's answer, drawn again in the other language when the operator switches.
let lastTool = null;

function renderTool() {
  if (!lastTool) return;
  const { kind, result, repaired } = lastTool;
  if (!result.ok) resultBox(kind, false, refusalText(result));
  else if (kind === "schema") renderSchema(result.body);
  else if (kind === "reload-cache") renderReload(result.body);
  else if (kind === "connection") renderConnection(result.body);
  else renderVerify(result.body, repaired);
}

async function runCheck(kind, button) {
  button.disabled = true;
  button.classList.add("busy");
  lastTool = null;
  resultBox(kind, true, t("check.running")).dataset.state = "running";
  try {
    lastTool = { kind, result: await send(`/monitor/api/checks/${kind}`) };
    renderTool();
  } finally {
    button.disabled = !token();
    button.classList.remove("busy");
  }
}

async function runVerify(repair = false) {
  lastTool = null;
  resultBox("verify", true, t("check.running")).dataset.state = "running";
  const result = await send("/monitor/api/verify", { repair });
  lastTool = { kind: "verify", result, repaired: repair };
  renderTool();
  if (result.ok) await refresh();
}

// --- the loop -----------------------------------------------------------------------------------

function showTokenState() {
  const unlocked = Boolean(token());
  $("#token-state").textContent = unlocked ? t("token.unlocked") : t("token.read_only");
  for (const button of document.querySelectorAll(".needs-token")) {
    button.disabled = !unlocked;
    button.title = unlocked ? "" : t("token.needed");
  }
}

let refreshing = false;
let lastJobs = [];
let last = null;

function render() {
  if (!last) return;
  const [ready, health, jobs, errors] = last;
  renderHealth(ready, health);
  renderSummary(jobs.summary);
  renderJobs(jobs.jobs);
  renderErrors(errors.errors);
}

async function refresh() {
  if (refreshing) return;
  refreshing = true;
  try {
    last = await Promise.all([getJSON("/readyz"), getJSON("/monitor/api/health"), getJSON("/monitor/api/jobs"),
      getJSON(errorQuery())]);
    lastJobs = last[2].jobs;
    render();
    $("#updated").textContent = t("footer.updated", { time: fmt.time(new Date()) });
    document.body.dataset.loaded = "true";
    Charts.refresh().catch(() => {});
  } catch (err) {
    $("#updated").textContent = t("footer.not_updated", { reason: err.message });
  } finally {
    refreshing = false;
  }
}

async function switchLanguage(lang) {
  await I18N.load(lang);
  showTokenState();
  render();
  renderTool();
  Charts.redraw();
  document.body.dataset.lang = lang;
}

document.addEventListener("DOMContentLoaded", async () => {
  const lang = I18N.chosen();
  $("#lang").value = lang;
  await I18N.load(lang);
  document.body.dataset.lang = lang;
  $("#lang").addEventListener("change", (event) => switchLanguage(event.target.value));
  $("#token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const value = $("#token").value.trim();
    if (value) sessionStorage.setItem(TOKEN_KEY, value); else sessionStorage.removeItem(TOKEN_KEY);
    $("#token").value = "";
    showTokenState();
    refresh();
  });
  for (const dialog of document.querySelectorAll("dialog")) {
    for (const cancel of dialog.querySelectorAll("button.cancel")) cancel.addEventListener("click", () => dialog.close());
  }
  $("#open-export").addEventListener("click", openExport);
  $("#export-form").addEventListener("submit", submitExport);
  $("#open-mapping").addEventListener("click", openMapping);
  $("#mapping-form").addEventListener("submit", saveMapping);
  $("#mapping-add").addEventListener("click", () => $("#mapping-rows tbody").append(mappingRow()));
  $("#mapping-from-json").addEventListener("click", importMappingJSON);
  $("#mapping-download").addEventListener("click", downloadMapping);
  $("#mapping-file-input").addEventListener("change", uploadMapping);
  for (const button of document.querySelectorAll("[data-check]")) {
    button.addEventListener("click", () => runCheck(button.dataset.check, button));
  }
  $("#run-verify").addEventListener("click", () => runVerify(false));
  $("#error-filters").addEventListener("submit", (event) => { event.preventDefault(); refresh(); });
  $("#filter-clear").addEventListener("click", () => { $("#error-filters").reset(); refresh(); });
  $("#purge-form").addEventListener("submit", purge);
  $("#drawer-close").addEventListener("click", closeDrawer);
  $("#drawer-retry").addEventListener("click", retryError);
  $("#drawer-retry-job").addEventListener("click", retryErrorsJob);
  document.addEventListener("keydown", (event) => { if (event.key === "Escape" && !$("#drawer").hidden) closeDrawer(); });
  showTokenState();
  refresh();
  setInterval(refresh, REFRESH_MS);
});

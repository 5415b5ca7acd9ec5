// The sync monitor page: polls /readyz and /monitor/api/*, renders with textContent only (no
// HTML from data), and sends job actions with the admin token as a Bearer header. No build step.
"use strict";

const REFRESH_MS = 3000;
const TOKEN_KEY = "streamer.monitor.token";
const $ = (sel) => document.querySelector(sel);

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

const fmt = {
  int: (n) => (n === null || n === undefined ? "—" : Math.round(n).toLocaleString()),
  pct: (x) => (x === null || x === undefined ? "—" : `${(x * 100).toFixed(1)}%`),
  bytes(n) {
    if (n === null || n === undefined) return "—";
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i += 1; }
    return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
  },
  age(seconds) {
    if (seconds === null || seconds === undefined) return "—";
    if (seconds < 90) return `${Math.round(seconds)} s`;
    if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
    return `${(seconds / 3600).toFixed(1)} h`;
  },
  when(iso) { return iso ? new Date(iso).toLocaleString() : "—"; },
  date(d) { return d || "…"; },
};

function token() { return sessionStorage.getItem(TOKEN_KEY) || ""; }

function say(text, isError = false) {
  const box = $("#message");
  box.textContent = text;
  box.className = isError ? "error" : "";
  box.hidden = !text;
}

async function getJSON(url) {
  const response = await fetch(url, { cache: "no-store" });
  const body = await response.json().catch(() => ({}));
  if (!response.ok && url !== "/readyz") throw new Error(body.error || `${url}: HTTP ${response.status}`);
  return body;
}

function fillKV(list, rows) {
  list.replaceChildren(...rows.map(([label, value, tone]) =>
    el("li", {}, el("span", { text: label }), el("span", { text: value, class: tone || "" }))));
}

function renderHealth(ready, health) {
  const states = ready.components || {};
  const up = health.components || {};
  const names = [...new Set([...Object.keys(states), ...Object.keys(up)])].sort();
  const rows = names.map((name) => {
    const ok = states[name] !== false && up[name] !== false;
    return [name, ok ? "ready" : "not ready", ok ? "good" : "bad"];
  });
  rows.unshift(["service", ready.ready ? "ready" : "not ready", ready.ready ? "good" : "bad"]);
  fillKV($("#components"), rows);

  // The figures come from this process's metrics: a component running elsewhere has none here.
  const absent = () => [["not running in this process", "see Grafana", "muted"]];
  if (!("capture" in up)) fillKV($("#capture"), absent());
  else renderCapture(health.capture || {});
  if (!("sink" in up)) fillKV($("#sink"), absent());
  else renderSink(health.sink || {});
}

function renderCapture(c) {
  const age = c.last_event_timestamp ? Date.now() / 1000 - c.last_event_timestamp : null;
  fillKV($("#capture"), [
    ["slot", c.slot_active === 1 ? "active" : "inactive", c.slot_active === 1 ? "good" : "warn"],
    ["leader", c.leader === 1 ? "this instance" : "standby / off"],
    ["WAL retained", fmt.bytes(c.retained_wal_bytes), c.retained_wal_bytes > 1073741824 ? "bad" : ""],
    ["last change", age === null ? "—" : `${fmt.age(age)} ago`, age > 900 ? "warn" : ""],
    ["changes captured", fmt.int(c.changes)],
  ]);
}

function renderSink(s) {
  fillKV($("#sink"), [
    ["landed", fmt.int(s.landed)],
    ["failed", fmt.int(s.failed), s.failed ? "bad" : ""],
    ["dead-lettered", fmt.int(s.dead_lettered), s.dead_lettered ? "bad" : ""],
    ["auth failures", fmt.int(s.auth_failures), s.auth_failures ? "bad" : ""],
    ["consumer lag", fmt.int(s.consumer_lag), s.consumer_lag > 1000 ? "warn" : ""],
    ["partitions paused", fmt.int(s.partitions_paused), s.partitions_paused ? "warn" : ""],
  ]);
}

function renderSummary(summary) {
  fillKV($("#summary"), [
    ["active / all", `${fmt.int(summary.active)} / ${fmt.int(summary.jobs)}`],
    ["success rate", fmt.pct(summary.success_rate),
      summary.success_rate === null ? "" : summary.success_rate < 0.95 ? "bad" : "good"],
    ["landed vs errors", `${fmt.int(summary.exported)} / ${fmt.int(summary.errors)}`],
    ["errors, last 24 h", fmt.int(summary.errors_24h), summary.errors_24h ? "warn" : ""],
  ]);
  const total = summary.exported + summary.errors;
  $("#split-ok").style.flex = String(total ? summary.exported : 1);
  $("#split-err").style.flex = String(total ? summary.errors : 0);
}

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
  return el("td", { class: "progress" }, bar, el("span", { class: "bar-label", text: label }));
}

function renderJobs(jobs) {
  const body = $("#jobs tbody");
  const unlocked = Boolean(token());
  body.replaceChildren(...jobs.map((job) => {
    const actions = el("td", { class: "actions" });
    for (const action of ["pause", "resume", "reset", "cancel"]) {
      const allowed = (job.actions || []).includes(action);
      const button = el("button", {
        type: "button", text: action, disabled: !(allowed && unlocked), "data-action": action,
        title: !allowed ? `not possible while ${job.status}` : unlocked ? `${action} this job` : "enter the admin token",
      });
      button.addEventListener("click", () => act(job, action));
      actions.append(button);
    }
    return el("tr", { "data-job-id": job.id },
      el("td", { class: "id", text: job.id.slice(0, 8), title: job.id }),
      el("td", { text: job.kind }),
      el("td", {}, el("span", { class: `badge status ${job.status}`, text: job.status })),
      el("td", { text: job.start_date || job.end_date ? `${fmt.date(job.start_date)} → ${fmt.date(job.end_date)}` : "all" }),
      progressCell(job),
      el("td", { class: "num", text: fmt.int(job.exported_leads) }),
      el("td", { class: `num ${job.error_leads ? "bad" : ""}`, text: fmt.int(job.error_leads) }),
      el("td", { class: "num", text: fmt.pct(job.success_rate) }),
      el("td", { text: fmt.when(job.updated_at) }),
      actions);
  }));
  $("#jobs-empty").hidden = jobs.length > 0;
}

function renderErrors(errors) {
  $("#errors tbody").replaceChildren(...errors.map((e) => el("tr", { "data-error-id": String(e.id) },
    el("td", { text: fmt.when(e.created_at) }),
    el("td", { class: "id", text: e.job_id ? e.job_id.slice(0, 8) : "—", title: e.job_id || "" }),
    el("td", { class: "num", text: String(e.lead_id) }),
    el("td", { class: `num ${e.response_status >= 400 ? "bad" : ""}`, text: e.response_status ?? "—" }),
    el("td", { class: "msg", text: e.error_message }))));
  $("#errors-empty").hidden = errors.length > 0;
}

async function act(job, action) {
  if (action === "reset" && !confirm(`Reset job ${job.id.slice(0, 8)}? Its progress and error rows are cleared.`)) return;
  const response = await fetch(`/monitor/api/jobs/${encodeURIComponent(job.id)}/${action}`, {
    method: "POST", headers: { Authorization: `Bearer ${token()}` },
  });
  const body = await response.json().catch(() => ({}));
  if (response.ok) say(`Job ${job.id.slice(0, 8)}: ${action} done, now ${body.job.status}.`);
  else say(`Job ${job.id.slice(0, 8)}: ${action} refused: ${body.error || response.status}`, true);
  if (response.status === 401) { sessionStorage.removeItem(TOKEN_KEY); showTokenState(); }
  await refresh();
}

function showTokenState() {
  $("#token-state").textContent = token() ? "actions unlocked" : "read-only";
}

let refreshing = false;
async function refresh() {
  if (refreshing) return;
  refreshing = true;
  try {
    const [ready, health, jobs, errors] = await Promise.all([
      getJSON("/readyz"), getJSON("/monitor/api/health"), getJSON("/monitor/api/jobs"),
      getJSON("/monitor/api/errors?limit=10"),
    ]);
    renderHealth(ready, health);
    renderSummary(jobs.summary);
    renderJobs(jobs.jobs);
    renderErrors(errors.errors);
    $("#updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
    document.body.dataset.loaded = "true";
  } catch (err) {
    $("#updated").textContent = `not updated: ${err.message}`;
  } finally {
    refreshing = false;
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("#token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const value = $("#token").value.trim();
    if (value) sessionStorage.setItem(TOKEN_KEY, value); else sessionStorage.removeItem(TOKEN_KEY);
    $("#token").value = "";
    showTokenState();
    refresh();
  });
  showTokenState();
  refresh();
  setInterval(refresh, REFRESH_MS);
});

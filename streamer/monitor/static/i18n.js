// The console's words and formats: one JSON catalogue per language (i18n/pt-BR.json, i18n/en.json,
// the same keys in both: tests/streamer/monitor/test_catalogue.py), pt-BR by default, numbers and
// dates in the chosen locale and in São Paulo's time zone. Texts the server sends (schema findings,
// check lines, refusals) come as a code with parameters beside their English words
// (streamer/texts.py) and are shown through the same catalogue: I18N.said.
"use strict";

const I18N = (() => {
  const LANGS = ["pt-BR", "en"];
  const KEY = "streamer.monitor.lang";
  const ZONE = "America/Sao_Paulo";
  let lang = "pt-BR";
  let words = {};

  function chosen() {
    const saved = localStorage.getItem(KEY);
    return LANGS.includes(saved) ? saved : "pt-BR";
  }

  async function load(next) {
    const response = await fetch(`/monitor/static/i18n/${next}.json`, { cache: "no-store" });
    if (!response.ok) throw new Error(`catalogue ${next}: HTTP ${response.status}`);
    words = await response.json();
    lang = next;
    localStorage.setItem(KEY, next);
    document.documentElement.lang = next;
    apply(document);
  }

  // t("purge.done", {n: 3, days: 90}) → the catalogue's text with {n} replaced; the key itself if missing.
  function t(key, vars = {}) {
    const text = words[key] ?? key;
    return text.replace(/\{(\w+)\}/g, (_, name) => (name in vars ? String(vars[name]) : `{${name}}`));
  }

  // A text from the server: the catalogue's "msg.<code>" with its parameters filled in (a parameter
  // may be a text itself, {code, params, message}); the server's English words when the catalogue
  // does not know the code (or there is none).
  function said(code, params, english) {
    const key = `msg.${code}`;
    if (!code || !(key in words)) return english ?? "";
    const vars = {};
    for (const [name, value] of Object.entries(params || {})) {
      vars[name] = value !== null && typeof value === "object" ? said(value.code, value.params, value.message)
        : (value ?? "");
    }
    return t(key, vars);
  }

  function apply(root) {
    for (const node of root.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
    for (const node of root.querySelectorAll("[data-i18n-placeholder]")) node.placeholder = t(node.dataset.i18nPlaceholder);
    for (const node of root.querySelectorAll("[data-i18n-title]")) node.title = t(node.dataset.i18nTitle);
    document.title = `${t("app.title")} · Gestão Scouter`;
  }

  const none = (x) => x === null || x === undefined || Number.isNaN(x);
  const fmt = {
    int: (n) => (none(n) ? "—" : new Intl.NumberFormat(lang, { maximumFractionDigits: 0 }).format(n)),
    num: (n, digits = 2) => (none(n) ? "—" : new Intl.NumberFormat(lang, { maximumFractionDigits: digits }).format(n)),
    pct: (x) => (none(x) ? "—" : new Intl.NumberFormat(lang, {
      style: "percent", minimumFractionDigits: 1, maximumFractionDigits: 1 }).format(x)),
    bytes(n) {
      if (none(n)) return "—";
      const units = ["B", "KiB", "MiB", "GiB", "TiB"];
      let i = 0;
      while (n >= 1024 && i < units.length - 1) { n /= 1024; i += 1; }
      return `${fmt.num(n, i ? 1 : 0)} ${units[i]}`;
    },
    age(seconds) {
      if (none(seconds)) return "—";
      if (seconds < 90) return t("unit.seconds", { n: fmt.int(seconds) });
      if (seconds < 5400) return t("unit.minutes", { n: fmt.int(seconds / 60) });
      return t("unit.hours", { n: fmt.num(seconds / 3600, 1) });
    },
    when(iso) {
      return iso ? new Intl.DateTimeFormat(lang, { dateStyle: "short", timeStyle: "medium", timeZone: ZONE })
        .format(new Date(iso)) : "—";
    },
    time(date) {
      return new Intl.DateTimeFormat(lang, { timeStyle: "medium", timeZone: ZONE }).format(date);
    },
    // A calendar day (YYYY-MM-DD, no time zone) in the locale's order.
    day(text) {
      if (!text) return "…";
      const [y, m, d] = text.split("-").map(Number);
      return new Intl.DateTimeFormat(lang, { dateStyle: "short", timeZone: "UTC" }).format(Date.UTC(y, m - 1, d));
    },
    // Chart axis ticks: hours and minutes in São Paulo.
    clock(seconds, withSeconds = false) {
      return new Intl.DateTimeFormat(lang, { hour: "2-digit", minute: "2-digit",
        ...(withSeconds ? { second: "2-digit" } : {}), timeZone: ZONE }).format(new Date(seconds * 1000));
    },
  };

  return { LANGS, ZONE, load, t, said, apply, fmt, chosen, get lang() { return lang; } };
})();

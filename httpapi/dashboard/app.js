// The capsengine dashboard: polls the JSON API and follows /events. No
// build step and no library: the page must work offline from the binary.
"use strict";

const $ = (id) => document.getElementById(id);
const fmt = new Intl.NumberFormat();
const maxEvents = 50;
let filter = "";
let selected = "";
let refreshSoon = null;

// api fetches a JSON endpoint; a 401 shows the token form.
async function api(path) {
  const resp = await fetch(path, { headers: { Accept: "application/json" }, credentials: "same-origin" });
  if (resp.status === 401) {
    showLogin();
    throw new Error("unauthorized");
  }
  const body = await resp.json();
  return { status: resp.status, body };
}

function showLogin(refused) {
  $("main").hidden = true;
  $("login").hidden = false;
  $("login-error").hidden = !refused;
}

$("login").addEventListener("submit", (e) => {
  e.preventDefault();
  // The token goes in a same-site cookie: EventSource cannot send an
  // Authorization header. The server compares it like the header's.
  document.cookie = "capsengine_token=" + encodeURIComponent($("token").value) + "; path=/; SameSite=Strict";
  sessionStorage.setItem("capsengine-login", "1");
  location.reload();
});

function text(tag, s, cls) {
  const el = document.createElement(tag);
  el.textContent = s;
  if (cls) el.className = cls;
  return el;
}

function row(cells, numeric) {
  const tr = document.createElement("tr");
  cells.forEach((c, i) => tr.appendChild(text("td", c, numeric.includes(i) ? "num" : "")));
  return tr;
}

async function refreshHealth() {
  try {
    const { status, body } = await api("healthz");
    const el = $("health");
    el.textContent = status === 200 ? "healthy" : "unhealthy: " + (body.error || status);
    el.className = "badge " + (status === 200 ? "ok" : "bad");
    if (body.warnings && body.warnings.length) el.title = body.warnings.join("\n");
  } catch (e) { /* shown by the login form or the next poll */ }
}

async function refreshStats() {
  const { body: s } = await api("stats");
  $("c-online").textContent = fmt.format(s.jids);
  $("c-resolved").textContent = fmt.format(s.counters.Resolved || 0);
  $("c-failed").textContent = fmt.format(s.counters.Failed || 0);
  $("c-queries").textContent = fmt.format(s.counters.Queries || 0);
  $("c-hits").textContent = s.store ? (100 * s.store.cache_hit_ratio).toFixed(1) + "%" : "–";
  drawLatency(s.resolve_latency);
}

function drawLatency(l) {
  $("latency-summary").textContent = l.count
    ? `${fmt.format(l.count)} keys resolved by a query · p50 ≤ ${l.p50_ms} ms · p90 ≤ ${l.p90_ms} ms · p99 ≤ ${l.p99_ms} ms`
    : "No key resolved by a query yet.";
  const h = $("latency");
  h.replaceChildren();
  const top = Math.max(1, ...l.buckets);
  l.buckets.forEach((n, i) => {
    const bar = document.createElement("div");
    bar.className = "bar";
    const label = i < l.le_ms.length ? "≤" + (l.le_ms[i] >= 1000 ? l.le_ms[i] / 1000 + "s" : l.le_ms[i] + "ms") : ">" + l.le_ms[l.le_ms.length - 1] / 1000 + "s";
    bar.title = `${label}: ${fmt.format(n)}`;
    const fill = document.createElement("div");
    fill.className = "fill";
    fill.style.height = (100 * n / top) + "%";
    bar.appendChild(fill);
    bar.appendChild(text("span", i % 3 === 0 ? label : "", "label"));
    h.appendChild(bar);
  });
}

async function refreshSoftware() {
  const { body: list } = await api("software?limit=50");
  const tb = $("software").tBodies[0];
  tb.replaceChildren(...list.map((s) => row([s.name || "(unnamed)", s.version || "", fmt.format(s.jids)], [2])));
}

// featuresSeq numbers feature requests: typing in the filter sends one per
// key, and an older answer arriving last must not replace a newer one.
let featuresSeq = 0;

async function refreshFeatures() {
  const seq = ++featuresSeq;
  const q = filter ? "&q=" + encodeURIComponent(filter) : "";
  const { body: f } = await api("features?limit=200" + q);
  if (seq !== featuresSeq) return;
  $("c-verified").textContent = fmt.format(f.verified);
  const tb = $("features").tBodies[0];
  tb.replaceChildren(...f.features.map((x) => {
    const tr = row([x.feature, fmt.format(x.jids), f.verified ? (100 * x.jids / f.verified).toFixed(1) + "%" : ""], [1, 2]);
    tr.className = "clickable" + (x.feature === selected ? " selected" : "");
    tr.addEventListener("click", () => { selected = x.feature; showWho(); refreshFeatures(); });
    return tr;
  }));
  $("features-more").textContent = f.matching > f.features.length ? `${f.features.length} of ${f.matching} features shown` : "";
}

async function showWho() {
  if (!selected) return;
  const { body: e } = await api("entities?limit=100&feature=" + encodeURIComponent(selected));
  $("who").hidden = false;
  $("who-feature").textContent = selected;
  $("who-list").replaceChildren(...e.entities.map((j) => text("li", j)));
  $("who-more").textContent = e.total > e.entities.length ? `${e.entities.length} of ${e.total} shown` : "";
}

$("feature-filter").addEventListener("input", (e) => { filter = e.target.value.trim(); refreshFeatures(); });

// refreshLists redraws the lists that events change, at most once a second.
function refreshLists() {
  if (refreshSoon) return;
  refreshSoon = setTimeout(() => {
    refreshSoon = null;
    Promise.all([refreshSoftware(), refreshFeatures(), showWho()]).catch(() => {});
  }, 1000);
}

function describe(ev) {
  switch (ev.kind) {
    case "CapsResolved": {
      const n = ev.info ? ev.info.features.length : 0;
      return `${ev.jid} — ${n} features${ev.cached ? " (known)" : ""}${ev.unverified ? " (unverified: no hash)" : ""}`;
    }
    case "CapsFailed": return `${ev.jid} — ${ev.error}`;
    case "EntityGone": return ev.jid;
    case "VerChanged": return ev.new ? `our ver is now ${ev.new.ver || ""}` : "we announce no caps";
    case "EventsLost": return `${ev.lost} events missed`;
    case "KeyVerified": {
      const n = ev.info ? ev.info.features.length : 0;
      return `new caps ${ev.key ? ev.key.ver : ""} — ${n} features`;
    }
    default: return ev.kind;
  }
}

function follow() {
  // EventSource reconnects by itself and sends Last-Event-ID, so a
  // dropped stream resumes where it stopped.
  const es = new EventSource("events");
  const live = $("live");
  es.onopen = () => { live.textContent = "live"; live.className = "badge ok"; };
  es.onerror = () => { live.textContent = "reconnecting"; live.className = "badge bad"; };
  const on = (e) => {
    const ev = JSON.parse(e.data);
    const li = document.createElement("li");
    li.className = ev.kind;
    li.appendChild(text("span", ev.kind, "kind"));
    li.appendChild(text("span", describe(ev)));
    li.title = ev.time;
    const list = $("events");
    list.prepend(li);
    while (list.children.length > maxEvents) list.lastChild.remove();
    if (ev.kind !== "VerChanged") refreshLists();
  };
  for (const k of ["CapsResolved", "CapsFailed", "EntityGone", "VerChanged", "KeyVerified", "EventsLost"]) es.addEventListener(k, on);
}

async function start() {
  try {
    await refreshStats();
  } catch (e) {
    if (e.message === "unauthorized" && sessionStorage.getItem("capsengine-login")) showLogin(true);
    return;
  }
  sessionStorage.removeItem("capsengine-login");
  refreshHealth();
  await Promise.all([refreshSoftware(), refreshFeatures()]).catch(() => {});
  follow();
  setInterval(() => { refreshStats().catch(() => {}); refreshHealth(); }, 2000);
  setInterval(refreshLists, 15000);
}

start();

// modelfleet dashboard: polls /api/v1/cluster/status (credentials from the browser's Basic
// auth prompt, sent automatically on same-origin requests) and redraws every few seconds.
"use strict";
const REFRESH_MS = 5000;

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}

function svcCell(svc) {
  if (!svc) return el("td", "not registered", "bad");
  if (svc.stale) return el("td", `stale (${Math.round(svc.heartbeat_age)}s)`, "bad");
  return el("td", svc.ok ? `ok ${svc.elapsed_ms}ms` : svc.error, svc.ok ? "ok" : "bad");
}

function drawTriage(t) {
  const box = document.getElementById("triage");
  box.className = "triage " + t.verdict;
  box.dataset.verdict = t.verdict;
  document.getElementById("triage-summary").textContent = t.summary;
  const ul = document.getElementById("triage-actions");
  ul.replaceChildren(...t.actions.map((a) => el("li", a)));
}

function draw(s) {
  drawTriage(s.triage);
  const sum = document.getElementById("summary");
  const x = s.summary;
  sum.replaceChildren(
    el("span", `hosts ${x.hosts}`), el("span", `healthy ${x.healthy}`),
    el("span", `degraded ${x.degraded}`), el("span", `down ${x.down}`),
    el("span", `stale ${x.stale}`), el("span", `maintenance ${x.maintenance}`),
    el("span", `zones ${x.zones.join(", ")}`), el("span", `status in ${s.elapsed_ms} ms`));
  const rows = s.hosts.map((h) => {
    const tr = el("tr");
    tr.className = h.state + (h.maintenance ? " maintenance" : "");
    tr.dataset.host = h.hostname;
    tr.append(el("td", h.zone), el("td", h.hostname), el("td", h.state));
    const tf = h.tfserving.reachable;
    tr.append(el("td", tf === true ? "up" : tf === false ? "DOWN" : "unknown",
                 tf === true ? "ok" : "bad"));
    tr.append(svcCell(h.services.remote_model_puller), svcCell(h.services.config_manager));
    const models = Object.entries(h.models).map(([m, info]) =>
      `${m}: ` + Object.entries(info.loaded).map(([v, st]) => `${v} ${st}`).join(", "));
    const mc = el("td", models.join("; ") || "—");
    if (h.drift.length) mc.classList.add("drift");
    tr.append(mc, el("td", h.problems.map((p) => p.message).join("; ")));
    return tr;
  });
  document.querySelector("#nodes tbody").replaceChildren(...rows);
  const mrows = Object.entries(s.models).map(([m, info]) => {
    const tr = el("tr");
    tr.append(el("td", m), el("td", info.expected === null ? "?" : info.expected.join(", ") || "—"));
    tr.append(el("td", Object.entries(info.serving).map(([v, hs]) => `${v} → ${hs.length} host(s)`).join("; ")));
    tr.append(el("td", info.drift_hosts.join(", ") || "none", info.drift_hosts.length ? "drift" : "ok"));
    return tr;
  });
  document.querySelector("#models tbody").replaceChildren(...mrows);
  document.getElementById("updated").textContent =
    "updated " + new Date(s.generated_at * 1000).toLocaleTimeString();
}

async function refresh() {
  try {
    const resp = await fetch("/api/v1/cluster/status", { credentials: "same-origin" });
    if (!resp.ok) throw new Error(`master answered ${resp.status}`);
    draw(await resp.json());
  } catch (err) {
    drawTriage({ verdict: "error", summary: `cannot reach the master: ${err.message}`,
                 actions: ["the master being down is not an outage: nodes keep serving"] });
  } finally {
    setTimeout(refresh, REFRESH_MS);
  }
}
refresh();

// The dashboard: reads this gtm, draws each panel when its data changed, keeps it live.

import { ApiError, get, setToken, token } from "./api.js";
import { applyAccess, bindActions, renderIntents, syncForms, syncOptions } from "./actions.js";
import { clock, fill, h } from "./dom.js";
import { KINDS, renderJournal, renderRuns } from "./journal.js";
import { follow } from "./live.js";
import { renderMatrix, sitesOf } from "./matrix.js";
import { renderLocators } from "./probes.js";
import { inCluster, renderBanner, renderCluster, renderInstance, renderProviders } from "./status.js";

const $ = (id) => document.getElementById(id);
const JOURNAL_KEPT = 200;
/** How often an instance without a cluster (404) is asked again whether it has one. */
const CLUSTER_RECHECK_MS = 10000;
let clusterChecked = 0;

const state = {
  services: new Map(),
  events: [],
  locators: [],
  runs: [],
  releases: new Map(),
  providers: [],
  intents: [],
  health: null,
  cluster: null,
  lost: null, // since when gtm has not answered (ms), or null
  mode: "connecting",
};
const openTimelines = new Set();
const drawn = new Map();
let actions = null;

/** Redraw ``key`` only when its data changed, so open details and choices survive. */
function draw(key, data, paint) {
  const text = JSON.stringify(data);
  if (drawn.get(key) === text) return;
  drawn.set(key, text);
  paint();
}

function mappings() {
  return [...state.services.values()].sort((a, b) => a.service.localeCompare(b.service));
}

function render() {
  const all = mappings();
  const bursts = (state.health && state.health.bursts) || {};
  const releases = state.releases;
  draw("matrix", [all, state.intents, [...releases.values()], bursts], () =>
    fill($("matrix"), renderMatrix(all, state.intents, releases, bursts)),
  );
  draw("locators", state.locators, () => fill($("locators"), renderLocators(state.locators)));
  const kind = $("journal-kind");
  const kinds = [...new Set([...KINDS, ...state.events.map((e) => e.kind)])].sort();
  syncOptions(kind, [["", "every kind"], ...kinds.map((k) => [k, k])]);
  const shown = kind.value ? state.events.filter((e) => e.kind === kind.value) : state.events;
  draw("journal", shown, () => fill($("journal"), renderJournal(shown, openTimelines)));
  draw("runs", state.runs, () => fill($("runs"), renderRuns(state.runs, actions.abort)));
  draw("intents", state.intents, () => fill($("intents"), renderIntents(state.intents, actions.withdraw)));
  draw("providers", state.providers, () => fill($("providers"), renderProviders(state.providers)));
  draw("cluster", state.cluster, () => {
    const shown = inCluster(state.cluster);
    $("cluster-panel").hidden = !shown;
    fill($("cluster"), shown ? renderCluster(state.cluster) : []);
    fill($("banner"), renderBanner(state.cluster));
  });
  draw("health", state.health, () => fill($("instance"), renderInstance(state.health)));
  syncForms(all.map((m) => m.service), sitesOf(all));
  applyAccess();
  drawLive();
}

function drawLive() {
  const live = $("live");
  if (state.lost !== null) {
    live.dataset.mode = "lost";
    live.textContent = `gtm unreachable since ${clock(state.lost / 1000)}`;
  } else {
    live.dataset.mode = state.mode;
    live.textContent = { stream: "live (stream)", polling: "live (every 1 s)", connecting: "connecting…" }[state.mode];
  }
}

/** Keep ``run`` (as GET /v1/runs/ID gives it) in the list, oldest first, in place of its older self. */
function addRun(run) {
  const known = state.runs.findIndex((r) => r.id === run.id);
  if (known === -1) state.runs = [...state.runs, run].sort((a, b) => a.created_at - b.created_at || a.id.localeCompare(b.id));
  else if (state.runs[known].revision <= run.revision) state.runs = state.runs.map((r, i) => (i === known ? run : r));
}

function addEvents(events) {
  const bySeq = new Map(state.events.map((e) => [e.seq, e]));
  for (const event of events) bySeq.set(event.seq, event);
  state.events = [...bySeq.values()].sort((a, b) => a.seq - b.seq).slice(-JOURNAL_KEPT);
}

async function optional(path, fallback) {
  try {
    return await get(path);
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) return fallback;
    throw err;
  }
}

/** Read the API again; ``full`` also re-reads mappings, events, runs and intents (what a stream carries). */
async function refresh(full = true) {
  const reads = [
    optional("v1/locators", { locators: [] }).then((d) => (state.locators = d.locators)),
    optional("v1/releases", { services: [] }).then((d) => (state.releases = new Map(d.services.map((r) => [r.service, r])))),
    get("v1/providers").then((d) => (state.providers = d.providers)),
    get("healthz").catch((err) => (err.status ? err.doc : Promise.reject(err))).then((d) => (state.health = d)),
  ];
  if (clusterChecked === 0 || state.cluster !== null || Date.now() - clusterChecked > CLUSTER_RECHECK_MS) {
    clusterChecked = Date.now();
    reads.push(optional("v1/cluster", null).then((d) => (state.cluster = d)));
  }
  if (full) {
    reads.push(get("v1/services").then((d) => (state.services = new Map(d.services.map((m) => [m.service, m])))));
    reads.push(get("v1/events?limit=100").then((d) => addEvents(d.events)));
    reads.push(optional("v1/runs", { runs: [] }).then((d) => (state.runs = d.runs)));
    reads.push(get("v1/intents").then((d) => (state.intents = d.intents)));
  }
  const results = await Promise.allSettled(reads);
  const unreachable = results.find((r) => r.status === "rejected" && r.reason instanceof ApiError && r.reason.status === 0);
  if (unreachable) state.lost = state.lost === null ? Date.now() : state.lost;
  else state.lost = null;
  render();
}

let messageTimer = null;
function notify(text, ok) {
  const box = $("message");
  box.hidden = false;
  box.className = ok ? "ok" : "error";
  fill(box, h("span", {}, text), h("button", { type: "button", class: "close", on: { click: () => (box.hidden = true) } }, "×"));
  window.clearTimeout(messageTimer);
  if (ok) messageTimer = window.setTimeout(() => (box.hidden = true), 8000);
}

function bindToken() {
  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const typed = $("token").value.trim();
    if (!typed) {
      notify("type a token first; it is kept in this browser tab only", false);
      return;
    }
    setToken(typed);
    $("token").value = "";
    applyAccess();
    notify("token kept in this tab only; the API checks it on each action", true);
  });
  $("token-forget").addEventListener("click", () => {
    setToken(null);
    applyAccess();
    notify("token forgotten: read-only", true);
  });
}

function start() {
  actions = bindActions({
    notify,
    refresh: () => refresh(true),
    syncForms: () => syncForms(mappings().map((m) => m.service), sitesOf(mappings())),
  });
  bindToken();
  $("journal-kind").addEventListener("change", render);
  applyAccess();
  if (token()) $("token").placeholder = "token set; type another to replace it";
  follow({
    refresh,
    mode: (mode) => {
      state.mode = mode;
      drawLive();
    },
    mapping: (doc) => {
      state.services.set(doc.service, doc);
      render();
    },
    journal: (doc) => {
      addEvents([doc]);
      render();
    },
    run: (doc) => {
      addRun(doc);
      render();
    },
    intents: (doc) => {
      state.intents = doc.intents;
      render();
    },
  });
  window.setInterval(() => drawn.delete("matrix"), 10000); // keep the "updated Ns ago" current
}

start();

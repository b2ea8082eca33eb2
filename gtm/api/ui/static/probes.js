// Per locator: the last probes as a small chart, the failure rate, the consecutive failures
// that would bring it down now and the flap-damping penalty (GET /v1/locators).

import { ago, clock, duration, h, percent, s, stamp } from "./dom.js";

const WIDTH = 160;
const HEIGHT = 28;
const SLOTS = 20;

/** The probes as bars: height by latency (failures full and red), a title on each. */
export function probeChart(probes) {
  const slot = WIDTH / SLOTS;
  const slowest = Math.max(0.001, ...probes.filter((p) => p.result === "ok").map((p) => p.latency_s || 0));
  const bars = probes.slice(-SLOTS).map((probe, index) => {
    const full = probe.result !== "ok" || probe.latency_s === null;
    const height = full ? HEIGHT : Math.max(3, (HEIGHT * (probe.latency_s || 0)) / slowest);
    const latency = probe.latency_s === null ? "no answer" : duration(probe.latency_s);
    return s(
      "rect",
      { x: index * slot + 1, y: HEIGHT - height, width: slot - 2, height, class: `bar ${probe.result}` },
      s("title", {}, `${clock(probe.time)} ${probe.result} ${latency}${probe.detail ? ": " + probe.detail : ""}`),
    );
  });
  return s(
    "svg",
    { class: "probes", width: WIDTH, height: HEIGHT, viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: "img", "aria-label": "last probes" },
    s("line", { x1: 0, y1: HEIGHT - 0.5, x2: WIDTH, y2: HEIGHT - 0.5, class: "axis" }),
    bars,
  );
}

function lastLatency(probes) {
  const answered = probes.filter((p) => p.latency_s !== null);
  return answered.length ? duration(answered[answered.length - 1].latency_s) : "—";
}

function row(locator) {
  const probes = locator.probes || [];
  const last = probes[probes.length - 1];
  return h(
    "tr",
    { dataset: { locator: locator.id, verdict: locator.verdict } },
    h("td", { class: "loc-id", title: locator.id }, h("span", { class: `dot ${locator.verdict}` }), locator.site, h("span", { class: "addr" }, locator.id.split("/").pop())),
    h("td", {}, h("span", { class: `chip ${locator.verdict}` }, locator.verdict), locator.state && locator.state !== locator.verdict ? h("span", { class: "chip" }, `told ${locator.state}`) : null),
    h("td", { class: "since", title: stamp(locator.since) }, ago(locator.since)),
    h("td", {}, probeChart(probes)),
    h("td", { class: "num" }, lastLatency(probes)),
    h("td", { class: "num" }, percent(locator.failure_rate)),
    h("td", { class: "num", title: "current failure streak / consecutive failures required now" }, `${locator.fail_streak}/${locator.required_failures}`),
    h("td", { class: `num${locator.held ? " held" : ""}`, title: locator.held ? "held down by flap damping" : "flap-damping penalty" }, (locator.penalty || 0).toFixed(2), locator.held ? " held" : ""),
    h("td", { class: "reason" }, locator.reason, last && last.result !== "ok" && last.detail && !(locator.reason || "").includes(last.detail)
      ? h("div", { class: "error" }, `last probe: ${last.detail}`)
      : null),
  );
}

/** The locators grouped by service, one table. */
export function renderLocators(locators) {
  if (locators.length === 0) return h("p", { class: "empty" }, "No probe detail yet.");
  const services = [...new Set(locators.map((l) => l.service))];
  return h(
    "table",
    { class: "locators" },
    h(
      "thead",
      {},
      h("tr", {}, ["locator", "verdict", "since", "last probes", "latency", "fail rate", "fall", "penalty", "reason"].map((t) => h("th", {}, t))),
    ),
    services.map((service) =>
      h(
        "tbody",
        { dataset: { service } },
        h("tr", { class: "group" }, h("th", { colspan: 9 }, service)),
        locators.filter((l) => l.service === service).map(row),
      ),
    ),
  );
}

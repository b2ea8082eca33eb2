// This instance, its providers and, when several instances run, the cluster.

import { ago, duration, h, stamp } from "./dom.js";

/** Providers' state: last success, last error, pending changes, drift repaired. */
export function renderProviders(providers) {
  if (providers.length === 0) return h("p", { class: "empty" }, "No provider configured: the built-in DNS responder serves the zone.");
  return h(
    "table",
    { class: "providers" },
    h("thead", {}, h("tr", {}, ["provider", "kind", "last success", "last error", "pending", "passes", "applied", "drift repaired", "apply", "verify"].map((t) => h("th", {}, t)))),
    h(
      "tbody",
      {},
      providers.map((p) => {
        const failing = p.last_error && (!p.last_success || (p.last_error_at || 0) > p.last_success);
        return h(
          "tr",
          { class: failing ? "failing" : "", dataset: { provider: p.name } },
          h("td", {}, h("span", { class: `dot ${failing ? "down" : p.last_success ? "up" : "unknown"}` }), p.name),
          h("td", {}, p.kind),
          h("td", { title: stamp(p.last_success) }, ago(p.last_success)),
          h("td", { class: p.last_error ? "error" : "", title: stamp(p.last_error_at) }, p.last_error ? `${ago(p.last_error_at)}: ${p.last_error}` : "none"),
          h("td", { class: "num" }, p.pending),
          h("td", { class: "num" }, p.passes),
          h("td", { class: "num" }, p.applied),
          h("td", { class: "num" }, p.drift_repaired),
          h("td", { class: "num" }, duration(p.last_apply_s)),
          h("td", { class: "num" }, duration(p.last_verify_s)),
        );
      }),
    ),
  );
}

function value(v) {
  if (v === null || v === undefined) return "—";
  if (Array.isArray(v)) return v.length ? h("ul", {}, v.map((item) => h("li", {}, value(item)))) : "none";
  if (typeof v === "object") {
    return h("dl", {}, Object.entries(v).map(([k, item]) => [h("dt", {}, k.replaceAll("_", " ")), h("dd", {}, value(item))]));
  }
  return String(v);
}

/** The cluster document (leader, vantages, disagreements, ...) as it comes. */
export function renderCluster(doc) {
  return value(doc);
}

/** The header's facts from /healthz: instance, uptime, degraded and why. */
export function renderInstance(health) {
  if (!health) return [];
  const vantage = health.vantage || {};
  return [
    h("span", { class: "instance" }, health.instance || ""),
    health.uptime_s !== undefined ? h("span", { class: "meta" }, `up ${duration(health.uptime_s)}`) : null,
    health.degraded
      ? h("span", { class: "chip down", title: (vantage.reasons || []).join("; ") }, "degraded: automatic moves held")
      : h("span", { class: "chip up" }, health.ok === false ? "not ok" : "ok"),
  ];
}

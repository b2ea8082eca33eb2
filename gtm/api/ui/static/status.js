// This instance, its providers and, when several instances run, the cluster.

import { ago, clock, duration, h, stamp } from "./dom.js";

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

/** Whether ``doc`` (GET /v1/cluster) describes a cluster, not a lone instance. */
export function inCluster(doc) {
  return Boolean(doc && doc.cluster);
}

/**
 * The banner over the page when this instance is one of a cluster and does not act: who
 * acts instead, and that actions sent here are carried out by the leader. Null when it acts.
 */
export function renderBanner(doc) {
  if (!inCluster(doc) || doc.acting) return null;
  const leader = doc.leader || {};
  const consul = doc.consul || {};
  const lines = [];
  if (!consul.ok) {
    lines.push(h("strong", {}, "Consul has no leader: no instance moves anything. "), consul.why || "");
    lines.push(h("br"), "Every instance keeps answering DNS and the API from its last mappings.");
  } else if (leader.instance) {
    lines.push(
      h("strong", {}, `This instance (${doc.instance}) does not act: `),
      `${doc.why || "not the leader"}. `,
      "Actions sent from this page are carried out by the leader, ",
      h("span", { class: "leader-name" }, leader.instance),
      ` (term ${leader.term ?? "—"}) at ${leader.address || "—"}.`,
    );
  } else {
    lines.push(
      h("strong", {}, `This instance (${doc.instance}) does not act and no instance leads: `),
      `${doc.why || "not the leader"}. Nothing moves until an instance takes the lead.`,
    );
  }
  return h("div", { id: "cluster-banner", role: "status", class: consul.ok ? "follower" : "no-quorum" }, lines);
}

function part(doc) {
  if (doc.acting) return h("span", { class: "chip up part" }, "leader, acting");
  const leads = doc.leader && doc.leader.instance === doc.instance;
  return h("span", { class: `chip ${leads ? "down" : "unknown"} part` }, leads ? "leader, NOT acting" : "follower");
}

function leaderLine(doc) {
  const leader = doc.leader || {};
  const consul = doc.consul || {};
  return h(
    "div",
    { class: "cluster-head" },
    leader.instance
      ? h("span", { class: "leader", dataset: { leader: leader.instance, term: String(leader.term ?? "") } },
          "leader ", h("strong", {}, leader.instance), ` term ${leader.term ?? "—"}`, h("span", { class: "meta" }, ` at ${leader.address || "—"}`))
      : h("span", { class: "leader none", dataset: { leader: "" } }, h("strong", {}, "NO LEADER")),
    h("span", { class: "me", dataset: { instance: doc.instance || "", acting: String(Boolean(doc.acting)) } },
      "this instance ", h("strong", {}, doc.instance || "—"), " ", part(doc), h("span", { class: "why meta" }, doc.why || "")),
    h(
      "span",
      { class: "consul", dataset: { ok: String(Boolean(consul.ok)) } },
      "Consul ",
      consul.ok
        ? [h("span", { class: "chip up" }, "ok"), `leader ${consul.leader}, ${(consul.peers || []).length} servers`]
        : [h("span", { class: "chip down" }, "NO LEADER"), h("span", { class: "error" }, consul.why || "")],
    ),
  );
}

function renderInstances(doc) {
  const rows = (doc.instances || []).map((i) =>
    h(
      "tr",
      { dataset: { instance: i.instance || "", alive: String(Boolean(i.alive)), leader: String(Boolean(i.leader)) } },
      h("td", {}, h("span", { class: `dot ${i.alive ? "up" : "down"}` }), i.instance, i.instance === doc.instance ? h("span", { class: "meta" }, " (this one)") : null),
      h("td", {}, i.alive ? "alive" : "gone"),
      h("td", {}, i.leader ? h("span", { class: "chip active-chip" }, "leader") : ""),
      h("td", { class: "meta" }, i.address || "—"),
    ),
  );
  if (rows.length === 0) return h("p", { class: "empty" }, "No instance listed (Consul did not answer).");
  return h("table", { class: "instances" }, h("thead", {}, h("tr", {}, ["instance", "state", "part", "address"].map((t) => h("th", {}, t)))), h("tbody", {}, rows));
}

function renderVantages(doc) {
  const vantages = doc.vantages || {};
  const rows = (vantages.vantages || []).map((v) => {
    const counts = v.verdicts || {};
    return h(
      "tr",
      { dataset: { vantage: v.name, degraded: String(Boolean(v.degraded)) } },
      h("td", {}, v.name, v.name === doc.instance ? h("span", { class: "meta" }, " (this one)") : null),
      h(
        "td",
        { class: "report" },
        h("span", { class: "chip up" }, `${counts.up ?? 0} up`),
        h("span", { class: `chip ${counts.down ? "down" : ""}` }, `${counts.down ?? 0} down`),
        h("span", { class: `chip ${counts.unknown ? "unknown" : ""}` }, `${counts.unknown ?? 0} unknown`),
      ),
      h("td", { class: v.degraded ? "error" : "" }, v.degraded ? `degraded, does not vote: ${(v.reasons || []).join("; ") || "no reason given"}` : "votes"),
    );
  });
  const table = rows.length
    ? h("table", { class: "vantages" }, h("thead", {}, h("tr", {}, ["vantage", "its last report (locators judged)", "vote"].map((t) => h("th", {}, t)))), h("tbody", {}, rows))
    : h("p", { class: "empty" }, "No vantage has reported yet.");
  return [h("h3", {}, `Vantages (quorum ${vantages.quorum ?? "—"})`), table];
}

function renderDisagreements(doc) {
  const found = (doc.vantages || {}).disagreements || [];
  const byVantage = new Map();
  for (const d of found) byVantage.set(d.vantage, [...(byVantage.get(d.vantage) || []), d]);
  const list = [...byVantage.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([vantage, items]) =>
    h(
      "li",
      { dataset: { vantage } },
      h("strong", {}, vantage),
      " disagrees with the quorum, shown, not obeyed:",
      h(
        "ul",
        {},
        items.map((d) =>
          h(
            "li",
            { dataset: { locator: d.locator, says: d.says } },
            h("code", {}, d.locator),
            ": says ",
            h("span", { class: `chip ${d.says}` }, d.says),
            " where the quorum says ",
            h("span", { class: `chip ${d.verdict}` }, d.verdict),
            h("span", { class: "meta", title: stamp(d.since) }, ` since ${clock(d.since)} (${ago(d.since)})`),
          ),
        ),
      ),
    ),
  );
  return [
    h("h3", {}, "Lasting disagreements"),
    list.length ? h("ul", { class: "disagreements" }, list) : h("p", { class: "empty" }, "None: every vantage agrees with the quorum."),
  ];
}

/** The cluster (GET /v1/cluster): leader and term, this instance's part, instances, Consul, vantages. */
export function renderCluster(doc) {
  const problems = doc.problems || [];
  return [
    leaderLine(doc),
    problems.length ? h("ul", { class: "problems error" }, problems.map((p) => h("li", {}, p))) : null,
    h(
      "div",
      { class: "cluster-grid" },
      h("div", {}, h("h3", {}, "Instances"), renderInstances(doc)),
      h("div", {}, renderVantages(doc), renderDisagreements(doc)),
    ),
  ];
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

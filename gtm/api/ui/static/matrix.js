// The sites x services matrix: where each service's traffic goes now, each locator's
// state, the release each site runs (drift from the active site's marked), a burst's
// phase and overspill, the intents in force and the reason the mapping gives.

import { ago, h, stamp } from "./dom.js";

/** Every site named by a mapping, in the order the mappings list their locators. */
export function sitesOf(mappings) {
  const sites = [];
  for (const mapping of mappings) {
    for (const locator of mapping.locators) if (!sites.includes(locator.site)) sites.push(locator.site);
  }
  return sites;
}

/** The intents that concern ``service`` (its own and those about every service). */
export function intentsOf(intents, service) {
  return intents.filter((intent) => intent.service === null || intent.service === service);
}

/** Each locator's share of the traffic, as the mapping's ``best`` list and weights give it. */
function shares(mapping) {
  const best = mapping.locators.filter((locator) => (mapping.best || []).includes(locator.id));
  const total = best.reduce((sum, locator) => sum + locator.weight, 0);
  const share = new Map();
  for (const locator of best) share.set(locator.id, total > 0 ? locator.weight / total : 1 / best.length);
  return share;
}

/** A short label for an intent: "pin → site-c", "drain site-b", "freeze". */
export function intentLabel(intent) {
  switch (intent.kind) {
    case "pin":
      return `pin → ${intent.site}`;
    case "drain":
      return `drain ${intent.site}`;
    case "shift":
      return `shift ${intent.share}% → ${intent.site}`;
    case "ttl":
      return `ttl ${intent.ttl}s`;
    default:
      return intent.kind;
  }
}

function intentChip(intent) {
  const scope = intent.service === null ? " (all)" : "";
  const until = intent.expires_at ? `, until ${stamp(intent.expires_at)}` : "";
  return h(
    "span",
    { class: `chip intent ${intent.kind}`, title: `${intent.id} by ${intent.who}: ${intent.why}${until}` },
    intentLabel(intent) + scope,
  );
}

/**
 * A service's releases as /v1/releases gives them: the release of each site, the active
 * site's, and whether a site's differs from it (drift).
 */
export function releaseView(doc) {
  const bySite = new Map((doc ? doc.sites : []).map((item) => [item.site, item.release]));
  const active = doc && doc.active_site ? bySite.get(doc.active_site) || null : null;
  return {
    readiness: doc ? doc.readiness : null,
    drift: Boolean(doc && doc.drift),
    of: (site) => bySite.get(site) || null,
    differs: (site) => Boolean(active && bySite.get(site) && bySite.get(site) !== active),
  };
}

function releaseChip(releases, site) {
  const release = releases.of(site);
  if (release === null) return null;
  const differs = releases.differs(site);
  return h(
    "span",
    { class: `chip release${differs ? " drift" : ""}`, title: differs ? "another release than the active site's" : "release" },
    `${differs ? "≠ " : ""}${release}`,
  );
}

function cell(mapping, site, share, drained, releases, burst) {
  const here = mapping.locators.filter((locator) => locator.site === site);
  if (here.length === 0) return h("td", { class: "none", dataset: { site } }, "—");
  const traffic = here.reduce((sum, locator) => sum + (share.get(locator.id) || 0), 0);
  const states = [...new Set(here.map((locator) => locator.state))];
  const classes = ["site", `state-${states.length === 1 ? states[0] : "mixed"}`];
  const active = mapping.active_site === site;
  const overspill = burst !== null && burst.phase !== "steady" && !active && traffic > 0;
  if (active) classes.push("active");
  if (traffic > 0) classes.push("serving");
  if (releases.differs(site)) classes.push("release-drift");
  if (overspill) classes.push("overspill");
  return h(
    "td",
    {
      class: classes.join(" "),
      dataset: {
        site,
        state: states.join(" "),
        share: Math.round(traffic * 100),
        release: releases.of(site) || "",
        drift: releases.differs(site) ? "true" : "false",
        overspill: overspill ? "true" : "false",
      },
    },
    h(
      "div",
      { class: "traffic" },
      traffic > 0 ? h("span", { class: "share" }, `▶ ${Math.round(traffic * 100)}%`) : h("span", { class: "idle" }, "no traffic"),
      active ? h("span", { class: "chip active-chip" }, "active") : null,
      overspill ? h("span", { class: `chip burst ${burst.phase}` }, "overspill") : null,
      drained ? h("span", { class: "chip intent drain" }, "drained") : null,
      releaseChip(releases, site),
    ),
    here.map((locator) =>
      h(
        "div",
        { class: "loc", title: `${locator.id}\n${locator.address}:${locator.port}` },
        h("span", { class: `dot ${locator.state}` }),
        h("span", { class: "state" }, locator.state),
        h("span", { class: "pw" }, `p${locator.priority} w${locator.weight}`),
      ),
    ),
  );
}

/** A bursting service's cycle, as /healthz gives it under ``bursts``. */
function burstChip(burst) {
  const load = burst.load === null || burst.load === undefined ? "no load figure yet" : `load ${Number(burst.load).toFixed(3)}`;
  const text = burst.phase === "steady" ? "burst: steady" : `burst: ${burst.phase} · overspill ${Math.round(burst.share)}%`;
  return h("div", { class: `chip burst ${burst.phase}`, title: `${load}; ${burst.phase} since ${stamp(burst.since)}` }, text);
}

function readinessChip(releases) {
  if (releases.readiness === null) return null;
  if (releases.drift) {
    return h("div", { class: "chip drift", title: "the sites run different releases" }, `release drift · readiness ${releases.readiness}`);
  }
  return releases.readiness === "off" ? null : h("div", { class: "chip readiness" }, `readiness ${releases.readiness}`);
}

/**
 * The matrix as a table: one row per service, one column per site.
 *
 * @param releases Map of service to its /v1/releases document.
 * @param bursts /healthz ``bursts``: service to its cycle.
 */
export function renderMatrix(mappings, intents, releases = new Map(), bursts = {}) {
  const sites = sitesOf(mappings);
  if (mappings.length === 0) return h("p", { class: "empty" }, "No service is published yet.");
  return h(
    "table",
    { class: "matrix" },
    h(
      "thead",
      {},
      h("tr", {}, h("th", {}, "service"), sites.map((site) => h("th", {}, site)), h("th", {}, "intents"), h("th", {}, "reason")),
    ),
    h(
      "tbody",
      {},
      mappings.map((mapping) => {
        const standing = intentsOf(intents, mapping.service);
        const drained = new Set(standing.filter((i) => i.kind === "drain").map((i) => i.site));
        const share = shares(mapping);
        const known = releaseView(releases.get(mapping.service));
        const burst = bursts[mapping.service] || null;
        return h(
          "tr",
          {
            dataset: {
              service: mapping.service,
              active: mapping.active_site || "",
              drift: known.drift ? "true" : "false",
              burst: burst ? burst.phase : "",
            },
          },
          h(
            "th",
            { class: "service", scope: "row" },
            h("div", { class: "name" }, mapping.service),
            h(
              "div",
              { class: "meta", title: `updated ${stamp(mapping.updated_at)} by ${mapping.written_by}` },
              `epoch ${mapping.epoch} · v${mapping.version} · ttl ${mapping.ttl}s · ${ago(mapping.updated_at)}`,
            ),
            mapping.locators.length === 0 ? h("div", { class: "chip down" }, `empty: ${mapping.action}`) : null,
            readinessChip(known),
            burst ? burstChip(burst) : null,
          ),
          sites.map((site) => cell(mapping, site, share, drained.has(site), known, burst)),
          h("td", { class: "intents" }, standing.length ? standing.map(intentChip) : h("span", { class: "idle" }, "none")),
          h("td", { class: "reason" }, mapping.reason),
        );
      }),
    ),
  );
}

// The sites x services matrix: where each service's traffic goes now, each locator's
// state, the intents in force and the reason the mapping gives.

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

function cell(mapping, site, share, drained) {
  const here = mapping.locators.filter((locator) => locator.site === site);
  if (here.length === 0) return h("td", { class: "none", dataset: { site } }, "—");
  const traffic = here.reduce((sum, locator) => sum + (share.get(locator.id) || 0), 0);
  const states = [...new Set(here.map((locator) => locator.state))];
  const classes = ["site", `state-${states.length === 1 ? states[0] : "mixed"}`];
  if (mapping.active_site === site) classes.push("active");
  if (traffic > 0) classes.push("serving");
  return h(
    "td",
    {
      class: classes.join(" "),
      dataset: { site, state: states.join(" "), share: Math.round(traffic * 100) },
    },
    h(
      "div",
      { class: "traffic" },
      traffic > 0 ? h("span", { class: "share" }, `▶ ${Math.round(traffic * 100)}%`) : h("span", { class: "idle" }, "no traffic"),
      mapping.active_site === site ? h("span", { class: "chip active-chip" }, "active") : null,
      drained ? h("span", { class: "chip intent drain" }, "drained") : null,
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

/** The matrix as a table: one row per service, one column per site. */
export function renderMatrix(mappings, intents) {
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
        return h(
          "tr",
          { dataset: { service: mapping.service, active: mapping.active_site || "" } },
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
          ),
          sites.map((site) => cell(mapping, site, share, drained.has(site))),
          h("td", { class: "intents" }, standing.length ? standing.map(intentChip) : h("span", { class: "idle" }, "none")),
          h("td", { class: "reason" }, mapping.reason),
        );
      }),
    ),
  );
}

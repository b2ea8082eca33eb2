// The operator's actions: intents (pin, drain, freeze, withdraw) and planned failovers
// (dry-run preview, start, abort). Each is one API call with the tab's token; the API
// decides and its answer, refusal included, is shown as it is.

import { post, remove, token } from "./api.js";
import { h, fill, stamp } from "./dom.js";
import { intentLabel } from "./matrix.js";

const $ = (id) => document.getElementById(id);

/** Give ``select`` these [value, label] options, keeping the choice, only when they changed. */
export function syncOptions(select, options) {
  const wanted = JSON.stringify(options);
  if (select.dataset.options === wanted) return;
  const chosen = select.value;
  fill(select, options.map(([value, label]) => h("option", { value }, label)));
  select.dataset.options = wanted;
  if (options.some(([value]) => value === chosen)) select.value = chosen;
}

/** Enable the action buttons only while a token is kept. */
export function applyAccess() {
  const allowed = Boolean(token());
  for (const button of document.querySelectorAll("button.act")) button.disabled = !allowed;
  const access = $("access");
  access.dataset.access = allowed ? "token" : "read-only";
  access.textContent = allowed ? "token set (this tab only)" : "read-only";
  $("actions-hint").textContent = allowed ? "acting with the token of this tab" : "read-only: type a token to act";
}

/** Keep the forms' service and site choices in line with what gtm publishes. */
export function syncForms(services, sites) {
  const kind = $("intent-kind").value;
  const serviceOptions = services.map((name) => [name, name]);
  syncOptions($("intent-service"), kind === "pin" ? serviceOptions : [["", "every service"], ...serviceOptions]);
  $("intent-site").disabled = kind === "freeze";
  syncOptions($("intent-site"), sites.map((name) => [name, name]));
  syncOptions($("run-service"), serviceOptions);
  syncOptions($("run-to"), [["", "next healthy site"], ...sites.map((name) => [name, name])]);
}

/** The standing intents, each with a Withdraw button. */
export function renderIntents(intents, withdraw) {
  if (intents.length === 0) return h("p", { class: "empty" }, "None.");
  return h(
    "ul",
    { class: "intent-list" },
    intents.map((intent) =>
      h(
        "li",
        { dataset: { intent: intent.id, kind: intent.kind } },
        h("span", { class: `chip intent ${intent.kind}` }, intentLabel(intent)),
        h("strong", {}, intent.service === null ? "every service" : intent.service),
        h("span", { class: "meta", title: stamp(intent.created_at) }, `${intent.id} by ${intent.who}: ${intent.why}`),
        intent.expires_at ? h("span", { class: "meta" }, `until ${stamp(intent.expires_at)}`) : null,
        // A shift or TTL cap belongs to a planned run, which removes it: abort the run instead.
        intent.kind === "shift" || intent.kind === "ttl"
          ? h("span", { class: "meta" }, "(part of a planned run)")
          : h("button", { class: "act", type: "button", on: { click: () => withdraw(intent) } }, "Withdraw"),
      ),
    ),
  );
}

function runBody(dryRun) {
  const to = $("run-to").value;
  return {
    kind: "failover",
    service: $("run-service").value,
    to: to === "" ? null : to,
    reason: $("run-reason").value.trim(),
    drain: Number($("run-drain").value || 0),
    lower_ttl: $("run-lower-ttl").checked,
    replace_intents: $("run-replace").checked,
    dry_run: dryRun,
  };
}

function intentBody() {
  const kind = $("intent-kind").value;
  const service = $("intent-service").value;
  const minutes = $("intent-ttl").value;
  const body = { kind, service: service === "" ? null : service, why: $("intent-why").value.trim() };
  if (kind !== "freeze") body.site = $("intent-site").value;
  if (minutes) body.ttl = Number(minutes) * 60;
  if ($("intent-force").checked) body.force = true;
  return body;
}

/**
 * Wire the forms.
 *
 * @param {object} page notify(text, ok) shows a message; refresh() reads the API again;
 *   services() and sites() are what the forms offer.
 */
export function bindActions(page) {
  const act = async (what, call) => {
    try {
      const answer = await call();
      page.notify(what(answer), true);
      await page.refresh();
      return answer;
    } catch (err) {
      page.notify(err.message, false);
      return null;
    }
  };

  $("intent-kind").addEventListener("change", () => page.syncForms());

  $("intent-form").addEventListener("submit", (event) => {
    event.preventDefault();
    act((i) => `${i.kind} ${i.id} stored: ${intentLabel(i)}${i.service ? " for " + i.service : ""}`, () => post("v1/intents", intentBody()));
  });

  $("run-preview").addEventListener("click", async () => {
    const out = $("run-preview-out");
    const run = await act((r) => `preview of ${r.service}: ${r.from_site} → ${r.to_site}`, () => post("v1/runs", runBody(true)));
    out.hidden = run === null;
    if (run !== null) out.textContent = run.outcome;
  });

  $("run-form").addEventListener("submit", (event) => {
    event.preventDefault();
    $("run-preview-out").hidden = true;
    act((r) => `run ${r.id} started: ${r.service} ${r.from_site} → ${r.to_site}`, () => post("v1/runs", runBody(false)));
  });

  return {
    withdraw: (intent) => act((i) => `intent ${i.id} withdrawn`, () => remove(`v1/intents/${encodeURIComponent(intent.id)}`)),
    abort: (run) => act((r) => `run ${r.id} aborted: ${r.state}`, () => post(`v1/runs/${encodeURIComponent(run.id)}/abort`)),
  };
}

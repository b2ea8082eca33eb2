// The journal, newest first, with each event's timeline of steps; planned runs with their
// progress.

import { clock, duration, h, stamp } from "./dom.js";

const SHOWN = 100;

/** Every kind of journal event (gtm.core.journal.EVENT_KINDS), offered by the journal's filter. */
export const KINDS = ["burst", "drift", "health", "move", "provider", "run"];

/** An event's timeline as steps in time order, each with its offset from the first. */
export function timelineSteps(timeline) {
  const steps = Object.entries(timeline || {})
    .filter(([, at]) => typeof at === "number")
    .sort((a, b) => a[1] - b[1]);
  const start = steps.length ? steps[0][1] : 0;
  return steps.map(([name, at]) => ({ name, at, offset: at - start }));
}

function timeline(event, open) {
  const steps = timelineSteps(event.timeline);
  if (steps.length === 0) return null;
  const total = steps[steps.length - 1].offset;
  const details = h(
    "details",
    { class: "timeline", open: open.has(event.seq), on: { toggle: (e) => (e.target.open ? open.add(event.seq) : open.delete(event.seq)) } },
    h("summary", {}, `timeline: ${steps.length} steps, ${duration(total)}`),
    h(
      "ol",
      {},
      steps.map((step) =>
        h(
          "li",
          { title: stamp(step.at) },
          h("span", { class: "offset" }, `+${step.offset.toFixed(3)} s`),
          h("span", { class: "bar-track" }, h("span", { class: "bar-fill", "width%": total > 0 ? (100 * step.offset) / total : 0 })),
          h("span", { class: "step" }, step.name.replaceAll("_", " ")),
        ),
      ),
    ),
  );
  return details;
}

/** The journal's newest events first; ``open`` remembers which timelines are unfolded. */
export function renderJournal(events, open) {
  if (events.length === 0) return h("p", { class: "empty" }, "Nothing journaled yet.");
  return h(
    "ol",
    { class: "journal" },
    events
      .slice(-SHOWN)
      .reverse()
      .map((event) =>
        h(
          "li",
          { class: `event ${event.kind}`, dataset: { seq: event.seq, kind: event.kind, service: event.service || "" } },
          h(
            "div",
            { class: "head" },
            h("time", { title: stamp(event.time) }, clock(event.time)),
            h("span", { class: `chip kind ${event.kind}` }, event.kind),
            event.service ? h("strong", {}, event.service) : null,
            event.from_site || event.to_site ? h("span", { class: "move" }, `${event.from_site || "—"} → ${event.to_site || "—"}`) : null,
            event.epoch ? h("span", { class: "meta" }, `epoch ${event.epoch}`) : null,
            event.actor ? h("span", { class: "meta" }, `by ${event.actor}`) : null,
          ),
          h("div", { class: "reason" }, event.reason),
          timeline(event, open),
        ),
      ),
  );
}

const MARK = { true: "✓", false: "✗", null: "…" };

/** How far a running step is, from its "NN%" detail; null when it does not say. */
export function progressOf(step) {
  const found = /(\d+(?:\.\d+)?)%/.exec(step.detail || "");
  return found ? Number(found[1]) : null;
}

function runSteps(run) {
  return h(
    "ol",
    { class: "steps" },
    run.steps.map((step) => {
      const progress = step.ok === null ? progressOf(step) : null;
      return h(
        "li",
        { class: `step ok-${step.ok}`, title: step.detail || "" },
        h("span", { class: "mark" }, MARK[step.ok]),
        h("span", { class: "name" }, step.step),
        step.seconds !== null ? h("span", { class: "meta" }, duration(step.seconds)) : null,
        progress !== null ? h("progress", { max: 100, value: progress }) : null,
        step.ok === null && step.detail ? h("span", { class: "detail" }, step.detail) : null,
        step.ok === false && step.detail ? h("span", { class: "error" }, step.detail) : null,
      );
    }),
  );
}

/** Planned runs, newest first, each with its steps; ``abort(run)`` when an action is allowed. */
export function renderRuns(runs, abort) {
  if (runs.length === 0) return h("p", { class: "empty" }, "No planned run yet.");
  return h(
    "ol",
    { class: "runs" },
    runs
      .slice()
      .reverse()
      .slice(0, 20)
      .map((run) =>
        h(
          "li",
          { class: `run ${run.state}`, dataset: { run: run.id, state: run.state } },
          h(
            "div",
            { class: "head" },
            h("time", { title: stamp(run.created_at) }, clock(run.created_at)),
            h("span", { class: `chip state ${run.state}` }, run.state),
            h("strong", {}, run.service),
            h("span", { class: "move" }, `${run.kind} ${run.from_site || "—"} → ${run.to_site || "—"}`),
            h("span", { class: "meta" }, `${run.id} by ${run.who}`),
            run.state === "running" ? h("button", { class: "act danger", type: "button", on: { click: () => abort(run) } }, "Abort") : null,
          ),
          h("div", { class: "reason" }, run.reason),
          runSteps(run),
          run.outcome ? h("div", { class: "outcome" }, run.outcome) : null,
        ),
      ),
  );
}

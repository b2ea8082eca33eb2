// Keeping the page current without a reload: the server-sent event stream when this gtm
// has one (/v1/stream), otherwise a refresh every second.

import { BASE } from "./api.js";

export const POLL_MS = 1000;
/** In stream mode, what the stream does not carry (probes, releases, providers) is read this often. */
export const SLOW_MS = 2000;
const RETRY_STREAM_MS = 10000;

/**
 * Follow this gtm.
 *
 * @param {object} hooks
 *   refresh(full): read the API again; full also re-reads what the stream carries.
 *   mapping(doc): a mapping changed (stream mode).
 *   journal(doc): a journal event was written (stream mode).
 *   run(doc): a planned run was saved (stream mode).
 *   intents(doc): the intents changed (stream mode).
 *   mode(name): "stream", "polling" or "connecting".
 */
export function follow(hooks) {
  let mode = "connecting";
  let busy = false;
  let last = 0;

  const setMode = (next) => {
    if (next !== mode) {
      mode = next;
      hooks.mode(mode);
    }
  };

  const tick = async () => {
    if (busy) return;
    const now = Date.now();
    const full = mode !== "stream";
    if (!full && now - last < SLOW_MS) return;
    busy = true;
    last = now;
    try {
      await hooks.refresh(full);
    } finally {
      busy = false;
    }
  };

  const open = () => {
    if (typeof EventSource === "undefined") {
      setMode("polling");
      return;
    }
    const stream = new EventSource(new URL("v1/stream", BASE));
    stream.addEventListener("open", () => {
      setMode("stream");
      last = 0;
      hooks.refresh(true); // whatever changed while the stream was not open
    });
    stream.addEventListener("mapping", (e) => hooks.mapping(JSON.parse(e.data)));
    stream.addEventListener("journal", (e) => hooks.journal(JSON.parse(e.data)));
    stream.addEventListener("run", (e) => hooks.run(JSON.parse(e.data)));
    stream.addEventListener("intents", (e) => hooks.intents(JSON.parse(e.data)));
    stream.addEventListener("error", () => {
      setMode("polling");
      if (stream.readyState === EventSource.CLOSED) {
        // No stream here (404) or it was refused: keep polling, look again later.
        stream.close();
        window.setTimeout(open, RETRY_STREAM_MS);
      }
    });
  };

  window.setInterval(tick, POLL_MS);
  tick();
  open();
}

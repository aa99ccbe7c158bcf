// The room's WebSocket: connects, reconnects with capped exponential backoff and full
// jitter (and at once when /healthz answers again, the tab comes back or the network
// does), resumes with ?since=<last seq>&changes=<last change>, and stops for good on
// the terminal close codes.

// Close codes after which retrying cannot help (see chat/errors.py), and what to tell the user.
export const TERMINAL_CLOSES = new Map([
  [4400, "The server refused the connection as malformed. Reload the page."],
  [4401, "You are not signed in any more. Log in again to keep chatting."],
  [4403, "You can’t enter this room: you were banned, or it is private."],
  [4404, "This room does not exist any more."],
  [4410, "This room has been archived. Its history stays, but nobody can chat here now."],
]);
const TOO_MANY_CONNECTIONS = 4429;
// The protocol version this page speaks (chat/wire/versions.py LATEST): 2 gets presence
// as one `presence` frame per window instead of a `join` per arrival.
export const PROTOCOL_VERSION = 2;
const TOO_SLOW = 4408;

// Full jitter: wait a random time in [0, min(30 s, 1 s × 2^attempt)], so clients
// dropped together do not come back together. The first retry comes quickly (a
// blip, a server restart behind a balancer).
const FIRST_RETRY_MS = 400;
const BASE_DELAY_MS = 1000;
const MAX_DELAY_MS = 30000;
// While a longer wait runs, /healthz is asked every 1–3 s (random): a refused
// connection costs nothing, and the first answer ends the wait. Spread that way,
// a room's pages come back over a second or two, not all in one instant.
const PROBE_AFTER_MS = 1500;
const PROBE_EVERY_MS = 2000;
const PROBE_TIMEOUT_MS = 2000;
// A quiet connection is probed with a ping; no frame at all this long means it is dead
// (half-open TCP after sleep or a network change), so it is dropped and reopened.
const PING_AFTER_MS = 25000;
const DEAD_AFTER_MS = 35000;
const WATCH_EVERY_MS = 5000;

/**
 * States reported through onState({state, seconds, code, detail}):
 * connecting, live, reconnecting (seconds until the next try), offline, closed (terminal).
 */
export class RoomSocket {
  constructor({ path, healthUrl, getSince, getChanges = () => null, onFrame, onState }) {
    this.path = path;
    this.healthUrl = healthUrl;
    this.probeTimer = null;
    this.getSince = getSince;
    this.getChanges = getChanges;
    this.onFrame = onFrame;
    this.onState = onState;
    this.ws = null;
    this.live = false;
    this.stopped = false;
    this.attempt = 0;
    this.retryAt = 0;
    this.retryTimer = null;
    this.tickTimer = null;
    this.watchTimer = null;
    this.lastFrameAt = 0;
    this.lastErrorDetail = "";
    window.addEventListener("online", () => this.reconnectNow());
    window.addEventListener("offline", () => this.drop());
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible" && this.retryTimer) this.reconnectNow();
    });
  }

  start() {
    this.connect();
  }

  /** Send a frame if the connection is live; returns whether it was sent. */
  send(frame) {
    if (!this.live || this.ws?.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  /** Skip the rest of the backoff wait (the "Retry now" button, the browser coming online). */
  reconnectNow() {
    if (this.stopped || this.ws) return;
    this.attempt = 0;
    this.connect();
  }

  url() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const since = this.getSince();
    let query = `?v=${PROTOCOL_VERSION}`;
    if (since !== null && since !== undefined) {
      query += `&since=${encodeURIComponent(since)}`;
      // The last change (edit, deletion, restore) applied: the server replays later ones.
      const changes = this.getChanges();
      if (changes !== null && changes !== undefined) query += `&changes=${encodeURIComponent(changes)}`;
    }
    return `${scheme}//${location.host}${this.path}${query}`;
  }

  connect() {
    this.clearRetry();
    if (!navigator.onLine) {
      this.onState({ state: "offline" });
      return;
    }
    this.onState({ state: "connecting" });
    this.lastErrorDetail = "";
    const ws = new WebSocket(this.url());
    this.ws = ws;
    ws.addEventListener("message", (event) => this.received(ws, event));
    ws.addEventListener("close", (event) => this.closed(ws, event));
  }

  received(ws, event) {
    if (ws !== this.ws) return;
    this.lastFrameAt = Date.now();
    let frame;
    try {
      frame = JSON.parse(event.data);
    } catch {
      return;
    }
    if (frame.type === "error" && !frame.client_id) this.lastErrorDetail = frame.detail || "";
    if (frame.type === "ready") {
      this.live = true;
      this.attempt = 0;
      this.watch();
      this.onState({ state: "live" });
    }
    this.onFrame(frame);
  }

  closed(ws, event) {
    if (ws !== this.ws) return;
    this.lost(event.code);
  }

  /**
   * Give up on the current socket now, without waiting for a close handshake that a
   * dead peer will never answer, and plan the next attempt.
   */
  drop() {
    const ws = this.ws;
    if (!ws) return;
    this.lost(1006);
    ws.close();
  }

  lost(code) {
    this.ws = null;
    this.live = false;
    clearInterval(this.watchTimer);
    if (this.stopped) return;
    const explanation = TERMINAL_CLOSES.get(code);
    if (explanation) {
      this.stopped = true;
      this.onState({ state: "closed", code, detail: this.lastErrorDetail, explanation });
      return;
    }
    this.scheduleRetry(code);
  }

  /** The wait before the next attempt, in ms (see FIRST_RETRY_MS and BASE_DELAY_MS). */
  delay(code) {
    if (code === TOO_MANY_CONNECTIONS) return 10000 + Math.random() * 10000;
    if (this.attempt === 0) return (code === TOO_SLOW ? 250 : FIRST_RETRY_MS) * (0.5 + Math.random() / 2);
    return Math.random() * Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** this.attempt);
  }

  scheduleRetry(code) {
    if (!navigator.onLine) {
      this.onState({ state: "offline" });
      return;
    }
    const delay = this.delay(code);
    this.attempt += 1;
    this.retryAt = Date.now() + delay;
    this.retryTimer = setTimeout(() => this.connect(), delay);
    // Too many connections: the server is up and said so; asking it again won't help.
    if (this.healthUrl && code !== TOO_MANY_CONNECTIONS && delay > PROBE_AFTER_MS) this.probeSoon();
    this.tick();
    this.tickTimer = setInterval(() => this.tick(), 250);
  }

  probeSoon() {
    this.probeTimer = setTimeout(() => this.probe(), PROBE_EVERY_MS * (0.5 + Math.random()));
  }

  /** Ask /healthz whether the server is back; if it is, stop waiting. */
  async probe() {
    this.probeTimer = null;
    let healthy = false;
    try {
      const response = await fetch(this.healthUrl, {
        cache: "no-store",
        credentials: "omit",
        signal: AbortSignal.timeout(PROBE_TIMEOUT_MS),
      });
      healthy = response.ok;
    } catch {
      healthy = false; // refused or timed out: still down
    }
    if (!this.retryTimer) return; // connected or stopped meanwhile
    if (healthy) this.connect();
    else if (this.retryAt - Date.now() > PROBE_AFTER_MS) this.probeSoon();
  }

  tick() {
    const seconds = Math.max(1, Math.ceil((this.retryAt - Date.now()) / 1000));
    if (seconds !== this.shownSeconds) {
      this.shownSeconds = seconds;
      this.onState({ state: "reconnecting", seconds, attempt: this.attempt });
    }
  }

  clearRetry() {
    clearTimeout(this.probeTimer);
    this.probeTimer = null;
    clearTimeout(this.retryTimer);
    clearInterval(this.tickTimer);
    this.retryTimer = this.tickTimer = null;
    this.shownSeconds = null;
  }

  watch() {
    clearInterval(this.watchTimer);
    this.watchTimer = setInterval(() => {
      const quiet = Date.now() - this.lastFrameAt;
      if (quiet > DEAD_AFTER_MS) this.drop();
      else if (quiet > PING_AFTER_MS) this.send({ type: "ping" });
    }, WATCH_EVERY_MS);
  }
}

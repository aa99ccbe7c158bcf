// Messages we sent and the server has not confirmed yet, by client_id. A message
// is sent at once when live, and again (same client_id, so stored once) after every
// reconnect until its ack, or the matching message frame, confirms it.

import { newClientId } from "./format.js";

export class Outbox {
  constructor({ socket, timeline }) {
    this.socket = socket;
    this.timeline = timeline;
    this.entries = new Map(); // client_id -> {body, files, failed, replyTo}; insertion order is send order
  }

  /** Send `body` with `files` (uploaded, not sent yet); `replyTo` is the quote of the message it answers ({id, seq, user, body}). */
  add(body, files = [], replyTo = null) {
    const clientId = newClientId();
    this.entries.set(clientId, { body, files, failed: false, replyTo });
    this.timeline.addPending(clientId, body, files, replyTo);
    this.transmit(clientId);
  }

  transmit(clientId) {
    const entry = this.entries.get(clientId);
    if (!entry || entry.failed) return;
    const frame = { type: "message", body: entry.body, client_id: clientId };
    if (entry.files.length) frame.files = entry.files.map((file) => file.id);
    if (entry.replyTo) frame.reply_to = entry.replyTo.id;
    this.socket.send(frame);
  }

  /** A new connection is live: send everything still pending, oldest first. */
  resendAll() {
    for (const clientId of this.entries.keys()) this.transmit(clientId);
  }

  confirmed(clientId) {
    this.entries.delete(clientId);
  }

  failed(clientId, detail) {
    const entry = this.entries.get(clientId);
    if (!entry) return;
    entry.failed = true;
    this.timeline.markFailed(clientId, detail);
  }

  retry(clientId) {
    const entry = this.entries.get(clientId);
    if (!entry) return;
    entry.failed = false;
    this.timeline.markPending(clientId);
    this.transmit(clientId);
  }

  discard(clientId) {
    this.entries.delete(clientId);
    this.timeline.discard(clientId);
  }

  get size() {
    return this.entries.size;
  }
}

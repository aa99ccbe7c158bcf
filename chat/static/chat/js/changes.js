// What edits, deletions and replies add to a message on the page: the quoted line of a
// reply, the "edited" label, the inline editor, and a key telling whether a message
// shown is still in its current state. DOM nodes only; user text goes in as text.

import { el, fullTime, parseTimestamp } from "./format.js";

const QUOTE_EXCERPT = 100;

/**
 * A key of a message's whole state as the server sent it (body, edit, quote, deletion,
 * and whatever else a payload carries): a different key means draw it again.
 */
export function stateKey(message) {
  const { type, ...payload } = message; // a live frame is the payload plus its type
  return JSON.stringify(payload);
}

// Numbers seen above a gap are kept up to this many; past it the cursor jumps ahead.
const MAX_AHEAD = 10000;

/**
 * The `changes` cursor: the highest change number up to which every change was
 * applied. A frame lost between processes (the layer is at-most-once) or two changes
 * arriving out of order leave a gap; the cursor stays below it, so the next reconnect
 * (`&changes=`) replays what the gap hides. Applying a change twice is harmless.
 */
export class ChangeCursor {
  constructor() {
    this.value = null;
    this.ahead = new Set();
  }

  /** A `ready` frame: every change up to `changes` is in what it shows (or replayed next). */
  ready(changes, fresh) {
    if (fresh) {
      this.value = null;
      this.ahead.clear();
    }
    if (typeof changes !== "number") return;
    if (this.value === null || changes > this.value) this.value = changes;
    for (const number of this.ahead) if (number <= this.value) this.ahead.delete(number);
    this.advance();
  }

  /** An `update` or `deleted` frame numbered `change` was applied. */
  applied(change) {
    if (typeof change !== "number" || this.value === null || change <= this.value) return;
    this.ahead.add(change);
    this.advance();
    if (this.ahead.size > MAX_AHEAD) {
      this.value = Math.max(...this.ahead);
      this.ahead.clear();
    }
  }

  advance() {
    while (this.ahead.delete(this.value + 1)) this.value += 1;
  }
}

/** The "(edited)" label, with the time of the last edit as its tooltip. */
export function editedLabel(ts) {
  const label = el("span", "msg-edited", "(edited)");
  label.title = `Edited ${fullTime(parseTimestamp(ts))}`;
  return label;
}

/**
 * The quoted line above a reply: "↩ user: text" (or "deleted message"), a button that
 * jumps to the original (data-jump holds its seq).
 */
export function buildQuote(quote) {
  const button = el("button", "msg-quote");
  button.type = "button";
  // Not a Tab stop (the timeline must not be one per message): keyboard users reach
  // the original through the message's "Show original" action.
  button.tabIndex = -1;
  button.dataset.jump = String(quote.seq);
  button.dataset.quoteId = String(quote.id);
  button.append(el("span", "msg-quote-mark", "↩ "));
  if (quote.deleted) {
    button.classList.add("msg-quote--deleted");
    button.append(el("span", "msg-quote-text", "deleted message"));
    button.setAttribute("aria-label", "Reply to a deleted message");
  } else {
    // A message of files alone has no text to quote.
    const body = quote.body || "(files)";
    const text = body.length > QUOTE_EXCERPT ? `${body.slice(0, QUOTE_EXCERPT)}…` : body;
    button.append(el("span", "msg-quote-user", quote.user), ": ", el("span", "msg-quote-text", text));
    button.setAttribute("aria-label", `Reply to ${quote.user}: ${text}. Show the original`);
  }
  return button;
}

/** The quote a new reply shows before the server confirms it, from the original's <li>. */
export function quoteOf(item, body) {
  // Cut as the server cuts it, so the confirmed message need not be drawn again.
  return { id: Number(item.dataset.id), seq: Number(item.dataset.seq), user: item.dataset.user, body: body.slice(0, QUOTE_EXCERPT) };
}

/**
 * An inline editor in place of a message's body: Enter saves, Shift+Enter adds a line,
 * Escape (or Cancel) puts the message back as it was.
 */
export class InlineEditor {
  constructor({ item, body, onSave, onClose }) {
    this.item = item;
    this.onSave = onSave;
    this.onClose = onClose;
    this.shownBody = item.querySelector(".msg-body");
    this.form = el("form", "msg-editor");
    this.input = el("textarea", "msg-editor-input");
    this.input.value = body;
    this.input.rows = 1;
    this.input.setAttribute("aria-label", "Edit your message");
    const save = el("button", "button button-small msg-editor-save", "Save");
    save.type = "submit";
    const cancel = el("button", "button button-quiet button-small msg-editor-cancel", "Cancel");
    cancel.type = "button";
    this.status = el("p", "msg-editor-hint", "Enter saves · Escape cancels");
    this.form.append(this.input, save, cancel, this.status);
    // A message of files alone has its (empty) body hidden: keep it so on cancel.
    this.bodyWasHidden = this.shownBody.hidden;
    this.shownBody.hidden = true;
    this.shownBody.after(this.form);
    this.original = body;
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.save();
    });
    cancel.addEventListener("click", () => this.close());
    this.input.addEventListener("keydown", (event) => {
      if (event.key === "Escape") {
        event.preventDefault();
        event.stopPropagation();
        this.close();
      } else if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.save();
      }
    });
    this.input.focus();
    this.input.setSelectionRange(body.length, body.length);
  }

  save() {
    const body = this.input.value;
    if (!body.trim()) return;
    if (body === this.original) {
      this.close();
      return;
    }
    if (this.onSave(body)) {
      // The room's update frame replaces the whole message (and this editor).
      this.input.disabled = true;
      this.status.textContent = "Saving…";
    } else {
      this.status.textContent = "Not connected: try again when the room is live";
    }
  }

  /** The server refused the edit: let the author change it or cancel. */
  failed(detail) {
    this.input.disabled = false;
    this.status.textContent = `Not saved: ${detail}`;
    this.input.focus();
  }

  close() {
    this.form.remove();
    this.shownBody.hidden = this.bodyWasHidden;
    this.onClose();
  }
}

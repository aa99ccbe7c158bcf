// The message box: Enter sends, Shift+Enter adds a line, a live character counter,
// typing notifications (at most one every 2 s), and whatever stops sending right now
// (a locked room, a mute, a slow-mode or rate-limit countdown, a closed connection).

import { shortTime } from "./format.js";

// The server accepts one typing frame per user per 2 s and drops the rest; a little
// slack keeps network jitter from landing a frame just inside the window.
const TYPING_EVERY_MS = 2250;
const MAX_HEIGHT_PX = 200;
const DEFAULT_HINT = "Enter sends · Shift+Enter adds a line";
// setTimeout fires at once past 2^31-1 ms (24.8 days): a longer mute is checked again then.
const MAX_TIMER_MS = 2 ** 31 - 1;

function length(text) {
  // The server counts code points (Python len), not UTF-16 units.
  let count = 0;
  for (const _ of text) count += 1;
  return count;
}

/** What the page says about a mute, with its end when it has one. */
export function mutedText(until) {
  if (!until) return "A moderator muted you in this room until further notice. You can still read.";
  return `A moderator muted you in this room until ${shortTime(until)}. You can still read.`;
}

export class Composer {
  constructor({ form, input, sendButton, counter, hint, maxLength, onSend, onTyping, onMuteEnded, uploads = null }) {
    this.form = form;
    // Files waiting to go with the next message (uploads.js); a message may be files alone.
    this.uploads = uploads;
    this.input = input;
    this.sendButton = sendButton;
    this.counter = counter;
    this.hint = hint;
    this.maxLength = maxLength;
    this.onSend = onSend;
    this.onTyping = onTyping;
    this.onMuteEnded = onMuteEnded || (() => {});
    this.locked = false;
    this.isModerator = false;
    this.slowMode = 0;
    this.cooldownUntil = 0;
    this.cooldownTimer = null;
    this.closedReason = "";
    this.muted = false;
    this.mutedUntil = null; // a Date, or null: until a moderator lifts it
    this.mutedTimer = null;
    this.lastTypingAt = 0;
    this.typingActive = false;
    this.typingTimer = null;
    this.placeholder = input.placeholder;
    this.autosize = !(window.CSS && CSS.supports("field-sizing", "content"));
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing && !event.altKey && !event.ctrlKey && !event.metaKey) {
        event.preventDefault();
        this.submit();
      }
    });
    input.addEventListener("input", () => {
      this.typed();
      this.update();
    });
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
  }

  setRoom({ locked, slowMode, isModerator }) {
    // Slow mode shortened or turned off: a countdown started under the old setting
    // must not outlive it (the server no longer holds the user back; if another
    // limit still does, its rate_limited error starts a new countdown).
    if (slowMode < this.slowMode) {
      this.cooldownUntil = Math.min(this.cooldownUntil, Date.now() + slowMode * 1000);
    }
    this.locked = locked;
    this.slowMode = slowMode;
    this.isModerator = isModerator;
    this.update();
  }

  /** Refuse sending for `seconds` (slow mode, or a rate_limited error's retry_after). */
  setCooldown(seconds) {
    if (!(seconds > 0)) return;
    this.cooldownUntil = Math.max(this.cooldownUntil, Date.now() + seconds * 1000);
    clearInterval(this.cooldownTimer);
    this.cooldownTimer = setInterval(() => {
      if (Date.now() >= this.cooldownUntil) clearInterval(this.cooldownTimer);
      this.update();
    }, 250);
    this.update();
  }

  /**
   * A moderator muted the user (`until`: a Date, or null for until lifted), or
   * `false`: not muted (lifted, or expired). The box stays read-only meanwhile.
   */
  setMuted(until) {
    clearTimeout(this.mutedTimer);
    this.muted = until !== false;
    this.mutedUntil = this.muted ? until : null;
    if (until) {
      const left = until.getTime() - Date.now();
      this.mutedTimer = setTimeout(() => {
        if (left > MAX_TIMER_MS) this.setMuted(until);
        else {
          this.setMuted(false);
          this.onMuteEnded();
        }
      }, Math.min(Math.max(0, left), MAX_TIMER_MS));
    }
    this.update();
  }

  /** The connection ended for good: nothing can be sent from this page any more. */
  close(reason) {
    this.closedReason = reason;
    this.update();
  }

  canWrite() {
    return !this.closedReason && !this.muted && (!this.locked || this.isModerator);
  }

  cooldownSeconds() {
    return Math.max(0, Math.ceil((this.cooldownUntil - Date.now()) / 1000));
  }

  files() {
    return this.uploads ? this.uploads.ready() : [];
  }

  submit() {
    const body = this.input.value;
    const size = length(body);
    const files = this.files();
    if ((!body.trim() && !files.length) || size > this.maxLength || !this.canWrite() || this.cooldownSeconds() > 0) return;
    if (this.uploads?.busy()) return;
    this.onSend(body, files);
    this.uploads?.clear();
    this.input.value = "";
    // The message ends the typing on the other side; lastTypingAt stays, as the
    // server's 2 s window does.
    this.cancelTyping();
    this.update();
    this.input.focus();
  }

  typed() {
    const hasText = this.input.value.trim() !== "";
    if (hasText) {
      const wait = this.lastTypingAt + TYPING_EVERY_MS - Date.now();
      if (wait <= 0) this.sendTyping();
      // Inside the server's 2 s window a frame would be dropped: send one when it ends,
      // or a message just sent would hide that the user is already typing the next.
      else if (this.typingTimer === null) this.typingTimer = setTimeout(() => this.sendTyping(), wait);
    } else if (this.typingActive) {
      this.cancelTyping();
      this.onTyping(false);
    }
  }

  sendTyping() {
    this.cancelTyping();
    if (this.input.value.trim() === "") return;
    this.lastTypingAt = Date.now();
    this.typingActive = true;
    this.onTyping(true);
  }

  cancelTyping() {
    clearTimeout(this.typingTimer);
    this.typingTimer = null;
    this.typingActive = false;
  }

  update() {
    const size = length(this.input.value);
    const over = size - this.maxLength;
    const wait = this.cooldownSeconds();
    const writable = this.canWrite();
    this.counter.textContent = `${size} / ${this.maxLength}`;
    this.counter.classList.toggle("is-over", over > 0);
    this.counter.classList.toggle("is-near", over <= 0 && size >= this.maxLength * 0.9);
    this.input.disabled = !writable;
    this.uploads?.setEnabled(writable);
    this.input.setAttribute("aria-invalid", over > 0 ? "true" : "false");
    const busy = Boolean(this.uploads?.busy());
    const empty = this.input.value.trim() === "" && this.files().length === 0;
    this.sendButton.disabled = !writable || wait > 0 || over > 0 || empty || busy;
    let hint = DEFAULT_HINT;
    let warn = false;
    if (this.closedReason) hint = this.closedReason;
    else if (this.muted) [hint, warn] = [mutedText(this.mutedUntil), true];
    else if (this.locked && !this.isModerator) hint = "This room is read-only: only moderators can write.";
    else if (over > 0) [hint, warn] = [`${over} character${over === 1 ? "" : "s"} over the limit of ${this.maxLength}`, true];
    else if (wait > 0) [hint, warn] = [`Slow down: you can send again in ${wait} s`, true];
    else if (busy) hint = "Uploading… the message can be sent when it is done";
    else if (this.locked) hint = "Read-only for others; you can write as a moderator.";
    else if (this.slowMode > 0 && !this.isModerator) hint = `Slow mode: one message every ${this.slowMode} s`;
    if (this.hint.textContent !== hint) this.hint.textContent = hint;
    this.hint.classList.toggle("is-warning", warn);
    this.input.placeholder = writable ? this.placeholder : "Read-only";
    if (this.autosize) {
      // CSSOM, not a style attribute: allowed by the CSP (style-src 'self').
      this.input.style.height = "auto";
      this.input.style.height = `${Math.min(this.input.scrollHeight, MAX_HEIGHT_PX)}px`;
    }
  }
}

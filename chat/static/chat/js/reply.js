// "Replying to …" above the composer: which message the next one answers, with a
// Cancel button (Escape in the composer cancels too). Built from DOM nodes only.

import { quoteOf } from "./changes.js";
import { el } from "./format.js";

const EXCERPT = 80;

export class ReplyBar {
  constructor({ before, input }) {
    this.input = input;
    this.quote = null;
    this.bar = el("div", "composer-reply");
    this.bar.id = "composer-reply";
    this.bar.hidden = true;
    this.text = el("p", "composer-reply-text");
    const cancel = el("button", "button button-quiet button-small composer-reply-cancel", "Cancel");
    cancel.type = "button";
    cancel.setAttribute("aria-label", "Cancel the reply");
    cancel.addEventListener("click", () => {
      this.clear();
      this.input.focus();
    });
    this.bar.append(this.text, cancel);
    before.before(this.bar);
    input.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && this.quote) {
        event.preventDefault();
        this.clear();
      }
    });
  }

  /** Answer the message shown as `item` (`body` is its text as typed). */
  set(item, body) {
    this.quote = quoteOf(item, body);
    const shown = body || "(files)"; // a message of files alone has no text
    const excerpt = shown.length > EXCERPT ? `${shown.slice(0, EXCERPT)}…` : shown;
    this.text.replaceChildren("Replying to ", el("strong", null, this.quote.user), ": ", el("span", "composer-reply-excerpt", excerpt));
    this.bar.hidden = false;
    this.input.focus();
  }

  /** The quote for the message being sent now, and the bar cleared for the next one. */
  take() {
    const quote = this.quote;
    this.clear();
    return quote;
  }

  /** The original was deleted: nothing to answer any more. */
  forget(id) {
    if (this.quote && this.quote.id === id) this.clear();
  }

  clear() {
    this.quote = null;
    this.bar.hidden = true;
  }
}

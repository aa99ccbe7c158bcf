// Who is here: the online list (from ready, and presence, or join and leave) and the typing line
// ("alice is typing…"), where each typist expires 6 s after their last typing frame.

import { avatarClass, el } from "./format.js";

// The contract: clients treat typing as expired after 6 s without a repeat.
const TYPING_EXPIRES_MS = 6000;

export class People {
  constructor({ list, count, typing, me, onMessage = null }) {
    this.list = list;
    this.onMessage = onMessage; // (username) => open a direct message with them
    this.count = count;
    this.typingLine = typing;
    this.me = me;
    this.online = new Set();
    this.typists = new Map(); // username -> expiry timer
  }

  setOnline(names) {
    this.setStale(false);
    this.online = new Set(names);
    for (const name of [...this.typists.keys()]) if (!this.online.has(name)) this.stopTyping(name);
    this.render();
  }

  join(name) {
    this.online.add(name);
    this.render();
  }

  leave(name) {
    this.online.delete(name);
    this.stopTyping(name);
    this.render();
  }

  /** A `presence` frame (protocol 2): a window's arrivals and departures, rendered once. */
  presence(joined, left) {
    for (const name of joined) this.online.add(name);
    for (const name of left) {
      this.online.delete(name);
      this.stopTyping(name);
    }
    this.render();
  }

  /**
   * While disconnected nobody tells this page who comes and goes: the list is marked
   * out of date (the next ready replaces it), and emptied for good when the page
   * cannot come back (`gone`).
   */
  setStale(stale, gone = false) {
    if (gone) {
      this.online = new Set();
      for (const name of [...this.typists.keys()]) this.stopTyping(name);
      this.render();
    }
    this.list.classList.toggle("is-stale", stale);
    this.list.setAttribute("aria-busy", String(stale && !gone));
    this.list.title = stale ? "Not connected: this list may be out of date" : "";
    this.count.textContent = stale ? "–" : String(this.online.size);
  }

  typing(name, active) {
    if (name === this.me) return;
    clearTimeout(this.typists.get(name));
    if (active) this.typists.set(name, setTimeout(() => this.stopTyping(name), TYPING_EXPIRES_MS));
    else this.typists.delete(name);
    this.renderTyping();
  }

  stopTyping(name) {
    if (!this.typists.has(name)) return;
    clearTimeout(this.typists.get(name));
    this.typists.delete(name);
    this.renderTyping();
  }

  render() {
    const names = [...this.online].sort((a, b) => a.localeCompare(b));
    this.list.replaceChildren(
      ...names.map((name) => {
        const item = el("li", "person");
        item.dataset.user = name;
        const avatar = el("span", `person-avatar ${avatarClass(name)}`, name.slice(0, 1).toUpperCase());
        avatar.setAttribute("aria-hidden", "true");
        item.append(avatar, el("span", "person-name", name));
        if (name === this.me) item.append(el("span", "person-you", "(you)"));
        else if (this.onMessage) {
          const button = el("button", "link-button person-message", "Message");
          button.type = "button";
          button.setAttribute("aria-label", `Message ${name}`);
          button.addEventListener("click", () => this.onMessage(name));
          item.append(button);
        }
        return item;
      }),
    );
    this.count.textContent = String(names.length);
  }

  renderTyping() {
    const names = [...this.typists.keys()].sort((a, b) => a.localeCompare(b));
    let text = "";
    if (names.length === 1) text = `${names[0]} is typing…`;
    else if (names.length === 2) text = `${names[0]} and ${names[1]} are typing…`;
    else if (names.length > 2) text = `${names[0]}, ${names[1]} and ${names.length - 2} more are typing…`;
    this.typingLine.textContent = text;
  }
}

// Reactions on a message: the chips under it (emoji, count, pressed when one is mine,
// who reacted in the tooltip) and the picker, a small popover listing the server's
// fixed set. Both only say what the user wants; the room answers with an `update`
// frame that redraws the message, so what is shown is always what the server has.

import { el } from "./format.js";

/** Words for who reacted: "bob", "bob and carol", "bob, carol and 3 others". */
export function whoReacted(users, me) {
  const names = users.map((name) => (name === me ? "you" : name));
  if (names.length <= 1) return names.join("");
  if (names.length <= 3) return `${names.slice(0, -1).join(", ")} and ${names[names.length - 1]}`;
  return `${names.slice(0, 2).join(", ")} and ${names.length - 2} others`;
}

/** Whether `me` has reacted with `emoji` to `message`. */
export function hasReacted(message, emoji, me) {
  return (message.reactions || []).some((r) => r.emoji === emoji && r.users.includes(me));
}

function chip(reaction, me) {
  const mine = reaction.users.includes(me);
  const button = el("button", "reaction-chip");
  button.type = "button";
  button.dataset.action = "reaction";
  button.dataset.emoji = reaction.emoji;
  button.setAttribute("aria-pressed", String(mine));
  // Not a Tab stop (the timeline stays one); keyboard users react from the picker,
  // which shows and toggles the same state.
  button.tabIndex = -1;
  const who = whoReacted(reaction.users, me);
  button.title = `${who} reacted with ${reaction.emoji}`;
  button.setAttribute(
    "aria-label",
    `${reaction.emoji} ${reaction.count}: ${who}. ${mine ? "Remove your reaction" : "Add this reaction"}`,
  );
  button.append(el("span", "reaction-emoji", reaction.emoji), el("span", "reaction-count", String(reaction.count)));
  return button;
}

/** The chips row for `message`, or null when it has no reactions. */
export function reactionChips(message, me) {
  if (!message.reactions || message.reactions.length === 0) return null;
  const row = el("div", "msg-reactions");
  for (const reaction of message.reactions) row.append(chip(reaction, me));
  const more = el("button", "reaction-chip reaction-add", "+");
  more.type = "button";
  more.dataset.action = "react";
  more.tabIndex = -1;
  more.title = "Add a reaction";
  more.setAttribute("aria-label", "Add a reaction");
  row.append(more);
  return row;
}

/**
 * One popover for the page: opened from a message's React action or its "+" chip,
 * it lists the set as toggle buttons. Arrow keys, Home and End move between them,
 * Enter or Space toggles, Escape (or a click elsewhere, or Tab) closes and gives
 * focus back to what opened it.
 */
export class ReactionPicker {
  constructor({ emojis, me, onPick }) {
    this.emojis = emojis;
    this.me = me;
    this.onPick = onPick;
    this.item = null;
    this.opener = null;
    this.node = el("div", "reaction-picker");
    this.node.setAttribute("role", "menu");
    this.node.setAttribute("aria-label", "Reactions");
    this.node.hidden = true;
    this.buttons = emojis.map((emoji) => {
      const button = el("button", "reaction-option", emoji);
      button.type = "button";
      button.dataset.emoji = emoji;
      button.setAttribute("role", "menuitemcheckbox");
      button.tabIndex = -1;
      button.addEventListener("click", () => this.pick(emoji));
      return button;
    });
    this.node.append(...this.buttons);
    this.node.addEventListener("keydown", (event) => this.key(event));
    this.node.addEventListener("focusout", (event) => {
      if (!this.node.contains(event.relatedTarget)) this.close(false);
    });
    document.addEventListener("pointerdown", (event) => {
      if (!this.node.hidden && !this.node.contains(event.target) && event.target !== this.opener) this.close(false);
    });
    document.body.append(this.node);
  }

  get isOpen() {
    return !this.node.hidden;
  }

  /** Show the set for `message` (its current payload) next to `opener`. */
  open(opener, item, message) {
    this.opener = opener;
    this.item = item;
    for (const button of this.buttons) {
      const mine = hasReacted(message, button.dataset.emoji, this.me);
      button.setAttribute("aria-checked", String(mine));
      button.setAttribute("aria-label", `${button.dataset.emoji}${mine ? " (yours; remove)" : ""}`);
    }
    this.node.hidden = false;
    this.place(opener);
    const first = this.buttons.find((b) => b.getAttribute("aria-checked") === "true") || this.buttons[0];
    first.focus();
  }

  place(opener) {
    // Fixed, beside the opener, kept inside the window (CSSOM: the CSP allows it).
    const anchor = opener.getBoundingClientRect();
    const { width, height } = this.node.getBoundingClientRect();
    const left = Math.max(8, Math.min(anchor.right - width, window.innerWidth - width - 8));
    const below = anchor.bottom + 4;
    const top = below + height > window.innerHeight - 8 ? Math.max(8, anchor.top - height - 4) : below;
    this.node.style.left = `${left}px`;
    this.node.style.top = `${top}px`;
  }

  close(restoreFocus = true) {
    if (this.node.hidden) return;
    this.node.hidden = true;
    const opener = this.opener;
    this.opener = null;
    this.item = null;
    if (restoreFocus && opener?.isConnected) opener.focus({ preventScroll: true });
  }

  pick(emoji) {
    const button = this.buttons.find((b) => b.dataset.emoji === emoji);
    const active = button.getAttribute("aria-checked") !== "true";
    const item = this.item;
    this.close();
    if (item) this.onPick(item, emoji, active);
  }

  key(event) {
    const index = this.buttons.indexOf(document.activeElement);
    const last = this.buttons.length - 1;
    const moves = {
      ArrowRight: index + 1,
      ArrowDown: index + 1,
      ArrowLeft: index - 1,
      ArrowUp: index - 1,
      Home: 0,
      End: last,
    };
    if (event.key in moves) {
      event.preventDefault();
      const next = (moves[event.key] + this.buttons.length) % this.buttons.length;
      this.buttons[next].focus();
    } else if (event.key === "Escape") {
      event.preventDefault();
      event.stopPropagation();
      this.close();
    } else if (event.key === "Tab") {
      event.preventDefault();
      this.close();
    }
  }
}

// "@" autocomplete in the composer: typing "@al" offers the names of people online
// and recent authors that start with "al" (and "room" to moderators). Arrow keys move,
// Enter or Tab picks, Escape closes; the list is an ARIA listbox the textarea controls.

import { el } from "./format.js";

const MAX_OPTIONS = 8;
// The "@name" being typed just before the caret (the grammar of chat/wire/mentions.py).
const TYPED = /(?:^|[^\p{L}\p{N}\p{M}_.+\-@/])@([\p{L}\p{N}\p{M}_.@+-]*)$/u;

export class MentionComplete {
  constructor({ form, input, list, names, me, canMentionRoom }) {
    this.input = input;
    this.list = list;
    this.names = names;
    this.me = me;
    this.canMentionRoom = canMentionRoom;
    this.options = [];
    this.active = 0;
    this.start = 0;
    input.setAttribute("aria-autocomplete", "list");
    input.setAttribute("aria-controls", list.id);
    input.setAttribute("aria-expanded", "false");
    input.addEventListener("input", () => this.update());
    input.addEventListener("click", () => this.update());
    input.addEventListener("blur", () => setTimeout(() => this.close(), 150));
    // Capture on the form: runs before the composer's own Enter-sends handler.
    form.addEventListener("keydown", (event) => this.key(event), true);
    list.addEventListener("mousedown", (event) => {
      const option = event.target.closest("[role=option]");
      if (!option) return;
      event.preventDefault(); // keep the focus in the textarea
      this.pick(Number(option.dataset.index));
    });
  }

  isOpen() {
    return !this.list.hidden;
  }

  update() {
    const caret = this.input.selectionStart;
    if (caret !== this.input.selectionEnd) return this.close();
    const match = TYPED.exec(this.input.value.slice(0, caret));
    if (!match) return this.close();
    const typed = match[1].toLowerCase();
    this.start = caret - match[1].length - 1;
    const candidates = [...new Set(this.names())].filter((name) => name !== this.me);
    candidates.sort((a, b) => a.localeCompare(b));
    if (this.canMentionRoom()) candidates.unshift("room");
    this.options = candidates.filter((name) => name.toLowerCase().startsWith(typed)).slice(0, MAX_OPTIONS);
    if (this.options.length === 0) return this.close();
    this.active = Math.min(this.active, this.options.length - 1);
    this.render();
    return undefined;
  }

  render() {
    this.list.replaceChildren(
      ...this.options.map((name, index) => {
        const option = el("li", "mention-option", `@${name}`);
        option.id = `${this.list.id}-${index}`;
        option.setAttribute("role", "option");
        option.dataset.index = String(index);
        option.dataset.name = name;
        option.setAttribute("aria-selected", index === this.active ? "true" : "false");
        if (name === "room") option.append(el("span", "mention-option-note", " everyone here"));
        return option;
      }),
    );
    this.list.hidden = false;
    this.input.setAttribute("aria-expanded", "true");
    this.input.setAttribute("aria-activedescendant", `${this.list.id}-${this.active}`);
  }

  close() {
    this.list.hidden = true;
    this.active = 0;
    this.input.setAttribute("aria-expanded", "false");
    this.input.removeAttribute("aria-activedescendant");
  }

  key(event) {
    if (!this.isOpen() || event.target !== this.input || event.isComposing) return;
    const count = this.options.length;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      this.active = (this.active + (event.key === "ArrowDown" ? 1 : count - 1)) % count;
      this.render();
    } else if ((event.key === "Enter" && !event.shiftKey) || event.key === "Tab") {
      this.pick(this.active);
    } else if (event.key === "Escape") {
      this.close();
    } else {
      return;
    }
    event.preventDefault();
    event.stopPropagation();
  }

  pick(index) {
    const name = this.options[index];
    if (name === undefined) return;
    const { value } = this.input;
    const end = this.input.selectionStart;
    const insert = `@${name} `;
    this.input.value = value.slice(0, this.start) + insert + value.slice(end);
    const caret = this.start + insert.length;
    this.input.setSelectionRange(caret, caret);
    this.close();
    // The composer counts characters and sends typing on input.
    this.input.dispatchEvent(new Event("input", { bubbles: true }));
    this.close();
  }
}

// One "⋯" actions button per message, opening a menu of that message's actions
// (the WAI-ARIA menu button pattern), and a roving tabindex over the messages so the
// whole timeline costs one or two Tab presses however long it is.
//
// Keyboard: on a message, ArrowUp/ArrowDown/Home/End move between messages; on the
// "⋯" button Enter, Space or ArrowDown open the menu (ArrowUp: at its last item);
// in the menu the arrows, Home and End move, Escape (or Tab) closes it and gives the
// focus back to the button. Activating an item closes the menu, puts the focus back
// on the button (where a dialog it opens returns it) and lets the click go on to the
// timeline's [data-action] handler.

import { el } from "./format.js";

// What in a message can take the focus; outside the current message it is skipped by Tab.
const FOCUSABLE_IN_MESSAGE = "a[href], .msg-menu-button";

/**
 * Give `item` (a message <li>) its actions: a "⋯" button and a hidden menu of
 * `buttons` (each from actionButton, in menu order). No buttons: no menu at all.
 */
export function setActions(item, buttons, label) {
  const holder = item.querySelector(".msg-actions");
  if (!holder) return;
  if (buttons.length === 0) {
    holder.replaceChildren();
    return;
  }
  const current = item.tabIndex === 0;
  const button = el("button", "msg-menu-button", "⋯");
  button.type = "button";
  button.tabIndex = current ? 0 : -1;
  button.setAttribute("aria-haspopup", "menu");
  button.setAttribute("aria-expanded", "false");
  button.setAttribute("aria-label", label);
  const menu = el("div", "msg-menu");
  menu.setAttribute("role", "menu");
  menu.setAttribute("aria-label", label);
  menu.hidden = true;
  for (const entry of buttons) {
    entry.setAttribute("role", "menuitem");
    entry.tabIndex = -1;
    menu.append(entry);
  }
  holder.replaceChildren(button, menu);
}

export class MessageMenus {
  /** Menus and roving focus for the messages in `list` (an <ol> of li.msg). */
  constructor({ list }) {
    this.list = list;
    this.current = null; // the message <li> that Tab reaches
    this.open = null; // {button, menu}
    list.addEventListener("click", (event) => this.clicked(event));
    list.addEventListener("keydown", (event) => this.keydown(event));
    list.addEventListener("focusin", (event) => {
      const item = event.target.closest("li.msg");
      if (item && item.parentElement === this.list) this.setCurrent(item);
    });
    document.addEventListener("pointerdown", (event) => {
      if (this.open && !this.open.menu.parentElement.contains(event.target)) this.close(false);
    });
  }

  // --- roving tabindex ---------------------------------------------------------

  /** Make `item` the message Tab reaches (its links and "⋯" too); others are skipped. */
  setCurrent(item) {
    if (item === this.current) return;
    if (this.current) tabbable(this.current, false);
    this.current = item;
    if (item) tabbable(item, true);
  }

  /**
   * After the list changed: keep one message reachable. While the focus is
   * elsewhere it follows the newest message, where a reader starts.
   */
  refresh() {
    const focused = this.current?.isConnected && this.current.contains(document.activeElement);
    if (focused) return;
    this.setCurrent(this.list.lastElementChild);
  }

  /** A newly built message starts out of the Tab order. */
  prepare(item) {
    tabbable(item, item === this.current);
  }

  // --- the menu ------------------------------------------------------------------

  clicked(event) {
    const button = event.target.closest(".msg-menu-button");
    if (button) {
      if (this.open?.button === button) this.close(true);
      else this.show(button, 0);
      return;
    }
    if (event.target.closest('[role="menuitem"]') && this.open) this.close(true);
  }

  show(button, focusIndex) {
    this.close(false);
    const menu = button.nextElementSibling;
    this.open = { button, menu };
    menu.hidden = false;
    button.setAttribute("aria-expanded", "true");
    // Open upwards when the timeline would cut the menu off at its bottom.
    menu.classList.remove("opens-up");
    const scroller = button.closest(".timeline");
    if (scroller && menu.getBoundingClientRect().bottom > scroller.getBoundingClientRect().bottom) {
      menu.classList.add("opens-up");
    }
    const items = this.items();
    const index = (focusIndex + items.length) % items.length;
    items[index]?.focus({ preventScroll: true });
  }

  close(refocus) {
    const open = this.open;
    if (!open) return;
    this.open = null;
    open.menu.hidden = true;
    open.button.setAttribute("aria-expanded", "false");
    if (refocus && open.button.isConnected) open.button.focus({ preventScroll: true });
  }

  items() {
    return this.open ? [...this.open.menu.querySelectorAll('[role="menuitem"]')] : [];
  }

  keydown(event) {
    if (event.altKey || event.ctrlKey || event.metaKey) return;
    const key = event.key;
    if (this.open && this.open.menu.contains(event.target)) {
      const items = this.items();
      const at = items.indexOf(event.target);
      const moves = { ArrowDown: at + 1, ArrowUp: at - 1, Home: 0, End: items.length - 1 };
      if (key in moves) items[(moves[key] + items.length) % items.length].focus();
      else if (key === "Escape") this.close(true);
      else if (key === "Tab") this.close(true);
      else return;
      if (key !== "Tab") event.preventDefault();
      return;
    }
    const button = event.target.closest(".msg-menu-button");
    if (button && (key === "ArrowDown" || key === "ArrowUp")) {
      event.preventDefault();
      this.show(button, key === "ArrowDown" ? 0 : -1);
      return;
    }
    if (event.target.matches("li.msg") && ["ArrowDown", "ArrowUp", "Home", "End"].includes(key)) {
      const target = {
        ArrowDown: event.target.nextElementSibling,
        ArrowUp: event.target.previousElementSibling,
        Home: this.list.firstElementChild,
        End: this.list.lastElementChild,
      }[key];
      event.preventDefault();
      if (target) {
        this.setCurrent(target);
        target.focus();
      }
    }
  }
}

function tabbable(item, on) {
  item.tabIndex = on ? 0 : -1;
  for (const node of item.querySelectorAll(FOCUSABLE_IN_MESSAGE)) node.tabIndex = on ? 0 : -1;
}

// The message list: one <li> per message in seq order, unconfirmed (pending or failed)
// messages after them, consecutive messages of one author grouped, older pages
// prepended without moving what the reader sees, and a "new messages" button when
// the reader is not at the bottom. User text only ever goes in through textContent.

import { appendFormatted, avatarClass, el, fullTime, mentionsMe, parseTimestamp, shortTime } from "./format.js";
import { reactionChips } from "./reactions.js";
import { fileNodes } from "./uploads.js";

// Messages of one author closer than this share one header.
const GROUP_GAP_MS = 5 * 60 * 1000;
// "At the bottom" tolerates a little slack (sub-pixel scroll positions, a last line).
const BOTTOM_SLACK_PX = 48;
// Older history is asked for when the reader gets this close to the top.
const TOP_LOAD_PX = 240;

function timeElement(date, className) {
  const time = el("time", className, shortTime(date));
  time.dateTime = date.toISOString();
  time.title = fullTime(date);
  return time;
}

function actionButton(action, label, description) {
  const button = el("button", `msg-action msg-action-${action}`, label);
  button.type = "button";
  button.dataset.action = action;
  button.setAttribute("aria-label", description);
  return button;
}

export class Timeline {
  constructor({ scroller, list, edge, newButton, me, isModerator, onNeedOlder, onAction }) {
    this.scroller = scroller;
    this.list = list;
    this.edge = edge;
    this.newButton = newButton;
    this.me = me;
    this.isModerator = isModerator;
    this.onNeedOlder = onNeedOlder;
    this.onAction = onAction;
    this.bySeq = new Map();
    this.unconfirmed = new Map(); // client_id -> <li>
    this.payloads = new WeakMap(); // <li> -> the message it shows (for the reaction picker)
    // Updates that overtook their message (a reaction relayed by another server
    // process while the message waits behind an earlier seq): seq -> newer state.
    this.early = new Map();
    this.hasMore = false;
    this.loadingOlder = false;
    this.started = false;
    this.unseen = 0;
    this.pendingText = "Sending…";
    scroller.addEventListener("scroll", () => this.scrolled(), { passive: true });
    newButton.addEventListener("click", () => {
      this.scrollToBottom();
      this.scroller.focus({ preventScroll: true });
    });
    list.addEventListener("click", (event) => {
      const button = event.target.closest("button[data-action]");
      const item = button?.closest("li.msg");
      if (item) this.onAction(button.dataset.action, item, button);
    });
  }

  // --- building --------------------------------------------------------------------

  build(message) {
    if (message.deleted) return this.buildTombstone(message);
    const item = el("li", "msg");
    // Focusable by a tap (not by Tab): on touch screens that is what shows the actions.
    item.tabIndex = -1;
    const date = parseTimestamp(message.ts);
    item.dataset.user = message.user;
    item.dataset.time = String(date.getTime());
    if (message.client_id) item.dataset.clientId = message.client_id;
    const avatar = el("span", `msg-avatar ${avatarClass(message.user)}`, message.user.slice(0, 1).toUpperCase());
    avatar.setAttribute("aria-hidden", "true");
    const side = timeElement(date, "msg-side-time");
    side.setAttribute("aria-hidden", "true");
    const head = el("p", "msg-head");
    const author = el("span", "msg-author", message.user);
    if (message.user === this.me) author.classList.add("is-me");
    head.append(author, " ", timeElement(date, "msg-time"));
    const body = el("div", "msg-body");
    this.fillBody(body, message);
    if (mentionsMe(message, this.me) && message.user !== this.me) item.classList.add("msg--mention");
    const status = el("p", "msg-status");
    status.hidden = true;
    const main = el("div", "msg-main");
    main.append(head, body);
    if (message.files?.length) {
      body.hidden = !message.body;
      main.append(fileNodes(message.files));
    }
    main.append(status);
    const chips = reactionChips(message, this.me);
    if (chips) main.append(chips);
    this.payloads.set(item, message);
    item.append(avatar, side, main, el("div", "msg-actions"));
    if (message.seq) this.confirmElement(item, message);
    return item;
  }

  /** The body, formatted, with the mentions the server confirmed highlighted. */
  fillBody(body, message) {
    body.replaceChildren();
    if (message.mentions?.length || message.mentions_room) body.dataset.mentions = "shown";
    appendFormatted(body, message.body, {
      mentions: message.mentions,
      mentionsRoom: message.mentions_room,
      me: this.me,
    });
  }

  buildTombstone(message) {
    const item = el("li", "msg msg--deleted");
    item.dataset.seq = String(message.seq);
    item.dataset.id = String(message.id);
    const main = el("div", "msg-main");
    main.append(el("p", "msg-body", "message deleted"));
    item.append(el("span", "msg-avatar msg-avatar-empty"), main);
    return item;
  }

  confirmElement(item, message) {
    item.dataset.seq = String(message.seq);
    item.dataset.id = String(message.id);
    item.classList.remove("msg--pending", "msg--failed");
    item.querySelector(".msg-status").hidden = true;
    if (message.ts) {
      const date = parseTimestamp(message.ts);
      item.dataset.time = String(date.getTime());
      item.querySelector(".msg-time").replaceWith(timeElement(date, "msg-time"));
      const side = timeElement(date, "msg-side-time");
      side.setAttribute("aria-hidden", "true");
      item.querySelector(".msg-side-time").replaceWith(side);
    }
    const actions = item.querySelector(".msg-actions");
    const user = item.dataset.user;
    const own = user === this.me;
    actions.replaceChildren();
    actions.append(actionButton("react", "React", `React to message from ${user}`));
    if (!own) actions.append(actionButton("report", "Report", `Report message from ${user}`));
    if (this.isModerator) {
      actions.append(actionButton("delete", "Delete", `Delete message from ${user}`));
      if (!own) {
        actions.append(actionButton("mute", "Mute", `Mute ${user}`));
        actions.append(actionButton("ban", "Ban", `Ban ${user}`));
      }
    }
  }

  // --- placing ---------------------------------------------------------------------

  /** Put a confirmed item at its seq position (before any unconfirmed ones). */
  place(item, seq) {
    this.bySeq.set(seq, item);
    let ref = this.list.lastElementChild;
    while (ref && (!ref.dataset.seq || Number(ref.dataset.seq) > seq)) ref = ref.previousElementSibling;
    if (ref) ref.after(item);
    else this.list.prepend(item);
    this.regroup(item);
    this.regroup(item.nextElementSibling);
    const newer = this.early.get(seq);
    if (newer) {
      this.early.delete(seq);
      if (!item.classList.contains("msg--deleted")) this.applyUpdate(newer);
    }
  }

  regroup(item) {
    if (!item) return;
    const prev = item.previousElementSibling;
    const grouped =
      prev !== null &&
      !item.classList.contains("msg--deleted") &&
      !prev.classList.contains("msg--deleted") &&
      prev.dataset.user === item.dataset.user &&
      Math.abs(Number(item.dataset.time) - Number(prev.dataset.time)) < GROUP_GAP_MS;
    item.classList.toggle("msg--cont", grouped);
  }

  replace(old, fresh) {
    const hadFocus = old.contains(document.activeElement);
    old.replaceWith(fresh);
    this.bySeq.set(Number(fresh.dataset.seq), fresh);
    this.regroup(fresh);
    this.regroup(fresh.nextElementSibling);
    if (hadFocus) {
      fresh.tabIndex = -1;
      fresh.focus({ preventScroll: true });
    }
  }

  /**
   * Show a message (from ready, history or live); returns "added", "confirmed" (it was
   * our own pending one), "replaced" (deleted or restored since shown) or "duplicate".
   */
  upsert(message) {
    const existing = this.bySeq.get(message.seq);
    if (existing) {
      if (Boolean(message.deleted) !== existing.classList.contains("msg--deleted")) {
        this.replace(existing, this.build(message));
        return "replaced";
      }
      // Our own message, confirmed by its ack before the room's copy (with mentions) came.
      const body = existing.querySelector(".msg-body");
      if (body && !body.dataset.mentions && (message.mentions?.length || message.mentions_room)) {
        this.fillBody(body, message);
      }
      return "duplicate";
    }
    if (!message.deleted && message.client_id && message.user === this.me && this.unconfirmed.has(message.client_id)) {
      this.confirm(message.client_id, message);
      return "confirmed";
    }
    this.place(this.build(message), message.seq);
    return "added";
  }

  // --- what the room page calls -----------------------------------------------------

  /** Replace every confirmed message with `messages` (first ready, or recovery impossible). */
  reset(messages, hasMore) {
    for (const item of this.bySeq.values()) item.remove();
    this.bySeq.clear();
    this.early.clear(); // ready carries every message's current state
    for (const message of messages) this.upsert(message);
    for (const item of this.unconfirmed.values()) this.regroup(item);
    this.started = true;
    this.loadingOlder = false;
    this.setHasMore(hasMore);
    this.scrollToBottom();
    this.fillIfShort();
  }

  /** A message that arrived live: follow it if the reader is at the bottom, else count it. */
  addLive(message) {
    const stick = this.atBottom();
    const result = this.upsert(message);
    if (result === "added" || result === "confirmed" || result === "replaced") {
      if (stick) this.scrollToBottom();
      else if (result === "added" && !message.deleted && message.user !== this.me) this.countUnseen();
    }
    this.updateEdge();
    return result;
  }

  /** An older page: prepend it and keep the reader's view exactly where it was. */
  prepend(messages, hasMore) {
    const fromBottom = this.scroller.scrollHeight - this.scroller.scrollTop;
    // Announcing a whole page of old messages would drown the live ones.
    this.list.setAttribute("aria-live", "off");
    for (const message of messages) this.upsert(message);
    this.scroller.scrollTop = this.scroller.scrollHeight - fromBottom;
    setTimeout(() => this.list.setAttribute("aria-live", "polite"), 200);
    this.loadingOlder = false;
    this.setHasMore(hasMore);
    this.fillIfShort();
  }

  addPending(clientId, body, files = []) {
    const item = this.build({ user: this.me, body, files, client_id: clientId, ts: null });
    item.classList.add("msg--pending");
    const status = item.querySelector(".msg-status");
    status.textContent = this.pendingText;
    status.hidden = false;
    this.unconfirmed.set(clientId, item);
    this.list.append(item);
    this.regroup(item);
    this.updateEdge();
    this.scrollToBottom();
  }

  /** Our message was stored: give it its seq and id, and move it to its place. */
  confirm(clientId, message) {
    const { id, seq, ts } = message;
    const item = this.unconfirmed.get(clientId);
    if (!item) return false;
    const stick = this.atBottom();
    this.unconfirmed.delete(clientId);
    const next = item.nextElementSibling;
    item.remove();
    this.regroup(next);
    if (!this.bySeq.has(seq)) {
      // The room's copy knows whom the message mentions; the pending one could not.
      if (message.mentions?.length || message.mentions_room) this.fillBody(item.querySelector(".msg-body"), message);
      this.confirmElement(item, { id, seq, ts });
      this.place(item, seq);
    }
    if (stick) this.scrollToBottom();
    return true;
  }

  markFailed(clientId, detail) {
    const item = this.unconfirmed.get(clientId);
    if (!item) return;
    item.classList.remove("msg--pending");
    item.classList.add("msg--failed");
    const status = item.querySelector(".msg-status");
    status.replaceChildren(el("span", "msg-error", `Not sent: ${detail}`), " ");
    status.append(
      actionButton("retry", "Retry", "Retry sending this message"),
      " ",
      actionButton("discard", "Discard", "Discard this message"),
    );
    status.hidden = false;
  }

  markPending(clientId) {
    const item = this.unconfirmed.get(clientId);
    if (!item) return;
    item.classList.remove("msg--failed");
    item.classList.add("msg--pending");
    const status = item.querySelector(".msg-status");
    status.textContent = this.pendingText;
  }

  discard(clientId) {
    const item = this.unconfirmed.get(clientId);
    if (!item) return;
    this.unconfirmed.delete(clientId);
    const next = item.nextElementSibling;
    item.remove();
    this.regroup(next);
    this.updateEdge();
  }

  /** What pending messages say: "Sending…" when live, something else while disconnected. */
  setPendingText(text) {
    this.pendingText = text;
    for (const item of this.unconfirmed.values()) {
      if (item.classList.contains("msg--pending")) item.querySelector(".msg-status").textContent = text;
    }
  }

  /** The message an item shows, as last received (its reactions included). */
  payload(item) {
    return this.payloads.get(item) || {};
  }

  /**
   * An `update` frame: draw the message again from its current state. Returns false
   * when it is not shown (an older page brings its current state when loaded).
   */
  applyUpdate(message) {
    const existing = this.bySeq.get(message.seq);
    if (!existing) {
      if (message.seq > this.highestSeq() && !message.deleted) {
        this.early.set(message.seq, message);
        if (this.early.size > 200) this.early.delete(this.early.keys().next().value);
      }
      return false;
    }
    if (message.deleted) {
      this.tombstone(message.id, message.seq);
      return true;
    }
    const stick = this.atBottom();
    const focusedEmoji = existing.contains(document.activeElement) ? document.activeElement.dataset.emoji : null;
    const fresh = this.build(message);
    this.replace(existing, fresh);
    if (focusedEmoji) {
      const same = [...fresh.querySelectorAll("[data-emoji]")].find((b) => b.dataset.emoji === focusedEmoji);
      same?.focus({ preventScroll: true });
    }
    if (stick) this.scrollToBottom();
    return true;
  }

  tombstone(id, seq) {
    const existing = this.bySeq.get(seq);
    if (!existing || existing.classList.contains("msg--deleted")) return;
    const stick = this.atBottom();
    this.replace(existing, this.buildTombstone({ id, seq }));
    if (stick) this.scrollToBottom();
  }

  highestSeq() {
    for (let item = this.list.lastElementChild; item; item = item.previousElementSibling) {
      if (item.dataset.seq) return Number(item.dataset.seq);
    }
    return 0;
  }

  lowestSeq() {
    for (const item of this.list.children) if (item.dataset.seq) return Number(item.dataset.seq);
    return null;
  }

  // --- scrolling ---------------------------------------------------------------------

  atBottom() {
    const { scrollTop, scrollHeight, clientHeight } = this.scroller;
    return scrollHeight - scrollTop - clientHeight <= BOTTOM_SLACK_PX;
  }

  scrollToBottom() {
    this.scroller.scrollTop = this.scroller.scrollHeight;
    this.clearUnseen();
  }

  countUnseen() {
    this.unseen += 1;
    this.newButton.textContent = `${this.unseen} new message${this.unseen === 1 ? "" : "s"} ↓`;
    this.newButton.hidden = false;
  }

  clearUnseen() {
    this.unseen = 0;
    this.newButton.hidden = true;
  }

  scrolled() {
    if (this.atBottom()) this.clearUnseen();
    if (this.scroller.scrollTop < TOP_LOAD_PX) this.needOlder();
  }

  needOlder() {
    if (!this.started || !this.hasMore || this.loadingOlder) return;
    this.loadingOlder = Boolean(this.onNeedOlder(this.lowestSeq()));
    this.updateEdge();
  }

  /** Too few messages to scroll: fetch older ones until the view fills or the start. */
  fillIfShort() {
    if (this.scroller.scrollHeight <= this.scroller.clientHeight + TOP_LOAD_PX) this.needOlder();
  }

  /** A history request that will not be answered (the connection dropped, an error). */
  olderFailed() {
    this.loadingOlder = false;
    this.updateEdge();
  }

  setHasMore(hasMore) {
    this.hasMore = Boolean(hasMore);
    this.updateEdge();
  }

  updateEdge() {
    let text;
    if (!this.started) text = "Loading messages…";
    else if (this.loadingOlder) text = "Loading older messages…";
    else if (this.hasMore) text = "Scroll up for older messages";
    else if (this.list.children.length === 0) text = "No messages yet. Say hello!";
    else text = "This is the start of the room.";
    if (this.edge.textContent !== text) this.edge.textContent = text;
  }
}

// The message list: one <li> per message in seq order, unconfirmed (pending or failed)
// messages after them, consecutive messages of one author grouped, older pages
// prepended without moving what the reader sees, and a "new messages" button when
// the reader is not at the bottom. User text only ever goes in through textContent.

import { buildQuote, editedLabel, InlineEditor, stateKey } from "./changes.js";
import { appendFormatted, avatarClass, el, fullTime, mentionsMe, parseTimestamp, shortTime } from "./format.js";
import { MessageMenus, setActions } from "./menu.js";
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
  constructor({ scroller, list, edge, newButton, me, isModerator, onNeedOlder, onAction, onEdit, editWindow = 0 }) {
    this.scroller = scroller;
    this.list = list;
    this.edge = edge;
    this.newButton = newButton;
    this.me = me;
    this.isModerator = isModerator;
    this.onNeedOlder = onNeedOlder;
    this.onAction = onAction;
    this.onEdit = onEdit;
    this.editWindowMs = editWindow * 1000; // CHAT_EDIT_WINDOW_SECONDS; 0: no editing
    this.bodies = new WeakMap(); // <li> -> the message's text as typed (for the editor)
    this.editor = null;
    this.jumpTarget = null; // the seq of an original a reply's quote asked for
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
    // Before the [data-action] click handler below: a chosen item first closes its menu.
    this.menus = new MessageMenus({ list });
    scroller.addEventListener("scroll", () => this.scrolled(), { passive: true });
    newButton.addEventListener("click", () => {
      this.scrollToBottom();
      this.scroller.focus({ preventScroll: true });
    });
    list.addEventListener("click", (event) => {
      const quote = event.target.closest("button[data-jump]");
      if (quote) this.jumpTo(Number(quote.dataset.jump));
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
    if (message.edited) head.append(" ", editedLabel(message.edited));
    const body = el("div", "msg-body");
    this.fillBody(body, message);
    this.bodies.set(item, message.body);
    item.dataset.state = stateKey(message);
    if (mentionsMe(message, this.me) && message.user !== this.me) item.classList.add("msg--mention");
    const status = el("p", "msg-status");
    status.hidden = true;
    const main = el("div", "msg-main");
    main.append(head);
    if (message.reply_to) {
      item.dataset.replyTo = String(message.reply_to.id);
      main.append(buildQuote(message.reply_to));
    }
    main.append(body);
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
    this.menus.prepare(item);
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
    item.dataset.state = stateKey({ id: message.id, seq: message.seq, deleted: true });
    const main = el("div", "msg-main");
    main.append(el("p", "msg-body", "message deleted"));
    item.append(el("span", "msg-avatar msg-avatar-empty"), main);
    item.tabIndex = -1;
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
    const user = item.dataset.user;
    const own = user === this.me;
    // The message's menu, in this order; adding an action is one line here.
    const actions = [];
    actions.push(actionButton("reply", "Reply", `Reply to ${user}`));
    if (item.dataset.replyTo) actions.push(actionButton("original", "Original", "Show the message this one replies to"));
    actions.push(actionButton("react", "React", `React to message from ${user}`));
    // Past the window the server would refuse (edit_window): offer nothing then.
    const editable = Date.now() - Number(item.dataset.time) < this.editWindowMs;
    if (own && editable) {
      actions.push(actionButton("edit", "Edit", "Edit your message"));
      if (!this.isModerator) actions.push(actionButton("delete-own", "Delete", "Delete your message"));
    }
    if (!own) actions.push(actionButton("message", "Message", `Message ${user}`));
    if (!own) actions.push(actionButton("report", "Report", `Report message from ${user}`));
    if (this.isModerator) {
      actions.push(actionButton("delete", "Delete", `Delete message from ${user}`));
      if (!own) {
        actions.push(actionButton("mute", "Mute", `Mute ${user}`));
        actions.push(actionButton("ban", "Ban", `Ban ${user}`));
      }
    }
    setActions(item, actions, `Actions for the message from ${user}`);
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
    if (this.editor?.item === old) this.editor = null; // its message changed under it
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
      // Deleted, restored or edited since shown (a history page has the current state).
      if (stateKey(message) !== existing.dataset.state) {
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
    if (this.jumpTarget !== null) this.jumpTo(this.jumpTarget);
    this.fillIfShort();
  }

  addPending(clientId, body, files = [], replyTo = null) {
    const item = this.build({ user: this.me, body, files, client_id: clientId, ts: null, reply_to: replyTo });
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
    this.menus.refresh();
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
    this.refreshQuotes({ id, seq, deleted: true });
    const existing = this.bySeq.get(seq);
    if (!existing || existing.classList.contains("msg--deleted")) return;
    const stick = this.atBottom();
    this.replace(existing, this.buildTombstone({ id, seq }));
    if (stick) this.scrollToBottom();
    this.menus.refresh();
  }

  highestSeq() {
    for (let item = this.list.lastElementChild; item; item = item.previousElementSibling) {
      if (item.dataset.seq) return Number(item.dataset.seq);
    }
    return 0;
  }

  // --- edits and replies -------------------------------------------------------------

  /** An `update` frame: show the message's new state (if loaded) and in quotes of it. */
  update(message) {
    this.refreshQuotes(message);
    const existing = this.bySeq.get(message.seq);
    if (existing && existing.dataset.state === stateKey(message)) return;
    this.applyUpdate(message);
  }

  /** Replies quoting `original` show its current text, or "deleted message". */
  refreshQuotes(original) {
    const quote = original.deleted
      ? { id: original.id, seq: original.seq, deleted: true }
      : { id: original.id, seq: original.seq, user: original.user, body: original.body };
    for (const item of this.list.querySelectorAll(`li[data-reply-to="${Number(original.id)}"]`)) {
      item.querySelector(".msg-quote")?.replaceWith(buildQuote(quote));
    }
  }

  /** Open the inline editor on one of our own messages (one editor at a time). */
  startEdit(item) {
    if (this.editor) this.editor.close();
    const id = Number(item.dataset.id);
    this.editor = new InlineEditor({
      item,
      body: this.bodies.get(item) ?? item.querySelector(".msg-body").textContent,
      onSave: (body) => this.onEdit(id, body),
      onClose: () => {
        this.editor = null;
        item.focus({ preventScroll: true });
      },
    });
  }

  /** An error frame while an edit was being saved: show it in the editor. Whether one was. */
  editFailed(detail) {
    if (!this.editor || !this.editor.input.disabled) return false;
    this.editor.failed(detail);
    return true;
  }

  /** Show message `seq` (a reply's original), loading older pages until it is there. */
  jumpTo(seq) {
    const item = this.bySeq.get(seq);
    if (item) {
      this.jumpTarget = null;
      item.scrollIntoView({ block: "center" });
      item.classList.add("msg--highlight");
      setTimeout(() => item.classList.remove("msg--highlight"), 2000);
      item.focus({ preventScroll: true });
      return;
    }
    const lowest = this.lowestSeq();
    if (!this.hasMore || (lowest !== null && seq > lowest)) {
      this.jumpTarget = null; // not in what this room's history can show
      return;
    }
    this.jumpTarget = seq;
    this.needOlder();
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
    this.menus.refresh();
    let text;
    if (!this.started) text = "Loading messages…";
    else if (this.loadingOlder) text = "Loading older messages…";
    else if (this.hasMore) text = "Scroll up for older messages";
    else if (this.list.children.length === 0) text = "No messages yet. Say hello!";
    else text = "This is the start of the room.";
    if (this.edge.textContent !== text) this.edge.textContent = text;
  }
}

// The room page: wires the socket, the timeline, the composer, presence and the
// message actions together, and turns every server frame into a view change.
// document.body.dataset.state mirrors the connection (connecting, live,
// reconnecting, offline, closed) for people and for the browser tests.

import { ActionDialog } from "./actions.js";
import { ChangeCursor } from "./changes.js";
import { Composer, mutedText } from "./composer.js";
import { openDm, setUpBlockButton } from "./dms.js";
import { el, mentionsMe } from "./format.js";
import { JumpTo, seqFromLocation } from "./jump.js";
import { MembersPanel } from "./members.js";
import { MentionComplete } from "./mention_complete.js";
import { MentionNotifier } from "./notify.js";
import { Outbox } from "./outbox.js";
import { People } from "./people.js";
import { ReactionPicker } from "./reactions.js";
import { ReplyBar } from "./reply.js";
import { startSidebar } from "./sidebar.js";
import { RoomSocket } from "./socket.js";
import { Timeline } from "./timeline.js";
import { Uploads } from "./uploads.js";

const config = JSON.parse(document.getElementById("room-config").textContent);
const byId = (id) => document.getElementById(id);
const TOAST_MS = 4000;

// The newest seq received in order (ready, recovery and live frames); null before the
// first ready. Reconnects ask for ?since=lastSeq, so nothing is missed or doubled.
let lastSeq = null;
// Up to which change (edit, deletion, restore) everything was applied; reconnects ask
// for &changes=<it> so the server replays what changed meanwhile.
const changes = new ChangeCursor();
let unseenWhileHidden = 0;
const baseTitle = document.title;

// --- status line, notices and toasts ------------------------------------------------

const connection = byId("connection");
const connectionText = byId("connection-text");
const reconnectNow = byId("reconnect-now");
const notice = byId("notice");
const noticeText = byId("notice-text");
const toastLine = byId("toast");
let toastTimer = null;

// Whether the notice shows the user's mute (hidden again when the mute ends).
let noticeIsMute = false;

function showNotice(text, link) {
  noticeIsMute = false;
  noticeText.replaceChildren(text);
  if (link) {
    const anchor = el("a", "notice-link", link.text);
    anchor.href = link.href;
    noticeText.append(" ", anchor);
  }
  notice.hidden = false;
}

function toast(text, kind = "info") {
  toastLine.textContent = text;
  toastLine.classList.toggle("is-error", kind === "error");
  toastLine.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => {
    toastLine.hidden = true;
  }, TOAST_MS);
}

byId("notice-close").addEventListener("click", () => {
  notice.hidden = true;
});

// --- the parts ------------------------------------------------------------------------

const socket = new RoomSocket({
  path: config.wsPath,
  healthUrl: config.healthUrl,
  getSince: () => lastSeq,
  getChanges: () => changes.value,
  onFrame: (frame) => handle(frame),
  onState: (state) => showState(state),
});

const timeline = new Timeline({
  scroller: byId("timeline"),
  list: byId("messages"),
  edge: byId("history-edge"),
  newButton: byId("new-messages"),
  me: config.user,
  isModerator: config.isModerator,
  onNeedOlder: (lowest) =>
    socket.send({
      type: "history",
      before_seq: lowest ?? (lastSeq ?? 0) + 1,
      limit: config.historyPage,
    }),
  onAction: (action, item, button) => act(action, item, button),
  onEdit: (id, body) => socket.send({ type: "edit", id, body }),
  editWindow: config.editWindow,
});

const outbox = new Outbox({ socket, timeline });

// ?at=SEQ (a search result): open the room at that message.
const jump = new JumpTo({
  timeline,
  list: byId("messages"),
  historyUrl: byId("timeline").dataset.historyUrl,
  seq: seqFromLocation(),
  pageSize: config.historyPage,
  toast: (text) => toast(text),
});

const csrfToken = document.querySelector("#composer [name=csrfmiddlewaretoken]").value;

const messageUser = (username) => openDm({ url: config.dmUrl, csrfToken, username, toast });

const people = new People({
  list: byId("online"),
  count: byId("online-count"),
  typing: byId("typing"),
  me: config.user,
  onMessage: messageUser,
});

setUpBlockButton({ button: byId("dm-block"), url: config.blockUrl, csrfToken, toast });

const uploads = new Uploads({
  tray: byId("upload-tray"),
  button: byId("composer-attach"),
  input: byId("composer-file"),
  dropZone: byId("composer-wrap"),
  composerInput: byId("composer-input"),
  uploadUrl: config.uploadUrl,
  csrfToken,
  maxBytes: config.maxUploadBytes,
  maxFiles: config.maxFiles,
  onChange: () => composer.update(),
});

const composer = new Composer({
  form: byId("composer"),
  input: byId("composer-input"),
  sendButton: byId("composer-send"),
  counter: byId("composer-counter"),
  hint: byId("composer-hint"),
  maxLength: config.maxLength,
  onSend: (body, files) => outbox.add(body, files, replyBar.take()),
  uploads,
  onTyping: (active) => socket.send({ type: "typing", active }),
  onMuteEnded: () => muteEnded(),
});

// Names to offer after "@": who is online, then who wrote recently.
function mentionNames() {
  const authors = [...byId("messages").querySelectorAll("li.msg[data-user]")].slice(-200);
  return [...people.online, ...authors.map((item) => item.dataset.user)];
}

new MentionComplete({
  form: byId("composer"),
  input: byId("composer-input"),
  list: byId("mention-list"),
  names: mentionNames,
  me: config.user,
  canMentionRoom: () => config.isModerator,
});

const notifier = new MentionNotifier({
  button: byId("notify-enable"),
  status: byId("notify-status"),
  room: config.slug,
  me: config.user,
});

const replyBar = new ReplyBar({ before: byId("composer"), input: byId("composer-input") });

const dialog = new ActionDialog({
  dialog: byId("action-dialog"),
  roomUrl: config.roomUrl,
  csrfToken,
  socket,
  toast,
  fallbackFocus: byId("timeline"),
});

// Private rooms only: the members panel (invites, removal, leaving).
if (config.isPrivate) {
  new MembersPanel({
    dialog: byId("members-dialog"),
    opener: byId("members-open"),
    roomUrl: config.roomUrl,
    csrfToken: document.querySelector("#composer [name=csrfmiddlewaretoken]").value,
    me: config.user,
    toast,
  });
}

const picker = new ReactionPicker({
  emojis: config.reactions,
  me: config.user,
  onPick: (item, emoji, active) => react(item, emoji, active),
});

/** Ask for a reaction change; the room's `update` frame shows it (to everyone at once). */
function react(item, emoji, active) {
  if (!socket.send({ type: "react", id: Number(item.dataset.id), emoji, active })) {
    toast("Not connected: try again in a moment.");
  }
}

function act(action, item, button) {
  const clientId = item.dataset.clientId;
  if (action === "retry") outbox.retry(clientId);
  else if (action === "discard") outbox.discard(clientId);
  // The menu item is hidden once chosen: the picker opens by the message's "⋯" button.
  else if (action === "react") picker.open(item.querySelector(".msg-menu-button") || button, item, timeline.payload(item));
  else if (action === "reaction") react(item, button.dataset.emoji, button.getAttribute("aria-pressed") !== "true");
  else if (action === "reply") replyBar.set(item, timeline.bodies.get(item) ?? "");
  else if (action === "edit") timeline.startEdit(item);
  else if (action === "message") messageUser(item.dataset.user);
  else if (action === "original") timeline.jumpTo(Number(item.querySelector(".msg-quote")?.dataset.jump));
  else dialog.open(action, item);
}

function applyRoom(room) {
  byId("room-locked").hidden = !room.locked;
  const slow = byId("room-slow");
  slow.hidden = !(room.slow_mode > 0);
  slow.textContent = `Slow mode · ${room.slow_mode} s`;
  config.slowMode = room.slow_mode;
  composer.setRoom({ locked: room.locked, slowMode: room.slow_mode, isModerator: config.isModerator });
}

// --- connection state ---------------------------------------------------------------

const STATE_TEXT = {
  connecting: () => "Connecting…",
  live: () => "Live",
  reconnecting: ({ seconds }) => `Reconnecting in ${seconds} s…`,
  offline: () => "Offline: waiting for the network",
  closed: () => "Disconnected",
};

function showState(change) {
  const { state } = change;
  document.body.dataset.state = state;
  connection.dataset.state = state;
  if (change.attempt !== undefined) connection.dataset.attempt = String(change.attempt);
  connectionText.textContent = STATE_TEXT[state](change);
  reconnectNow.hidden = state !== "reconnecting";
  if (state !== "live") {
    timeline.olderFailed();
    people.setStale(true, state === "closed");
  }
  timeline.setPendingText(state === "live" ? "Sending…" : "Will send when reconnected");
  if (state === "closed") {
    let explanation = change.detail ? `${change.explanation} (${change.detail})` : change.explanation;
    // A ban names itself: "you were banned from this room" says it all.
    if (change.code === 4403 && change.detail) explanation = `You can’t use this room any more: ${change.detail}.`;
    // Said once, in the notice: not again in a toast or under the message box.
    showNotice(explanation, change.code === 4401 ? { text: "Log in", href: config.loginUrl } : null);
    toastLine.hidden = true;
    composer.close("Disconnected: nothing can be sent from this page.");
    timeline.setPendingText("Not sent: disconnected");
  }
}

reconnectNow.addEventListener("click", () => socket.reconnectNow());

// --- frames -------------------------------------------------------------------------

function track(message) {
  if (lastSeq === null || message.seq > lastSeq) lastSeq = message.seq;
}


function live(message) {
  const result = timeline.addLive(message);
  if (result === "confirmed") outbox.confirmed(message.client_id);
  if (!message.deleted) people.stopTyping(message.user);
  if (result === "added" && document.hidden && !message.deleted) {
    unseenWhileHidden += 1;
    document.title = `(${unseenWhileHidden}) ${baseTitle}`;
  }
  if (result === "added" && !message.deleted) notifier.consider(message, mentionsMe(message, config.user));
  track(message);
  maybeRead();
}

// --- read position ------------------------------------------------------------------
// The page says "read" when the newest message is in view and the tab is visible, at
// most once a second; the server keeps the highest and clears the sidebar badges in
// the user's other tabs.

const READ_EVERY_MS = 1000;
let readSent = 0;
let readAt = 0;
let readTimer = null;

function maybeRead() {
  if (lastSeq === null || lastSeq <= readSent || document.hidden || !timeline.atBottom()) return;
  const wait = readAt + READ_EVERY_MS - Date.now();
  if (wait > 0) {
    readTimer ??= setTimeout(() => {
      readTimer = null;
      maybeRead();
    }, wait);
    return;
  }
  if (socket.send({ type: "read", seq: lastSeq })) {
    readSent = lastSeq;
    readAt = Date.now();
  }
}

/** The "new since you left" line before the first message after the user's position. */
function markNewSince(readSeq) {
  byId("messages").querySelector(".unread-divider")?.remove();
  if (readSeq === undefined || readSeq === null) return;
  const first = [...byId("messages").querySelectorAll("li[data-seq]")].find(
    (item) => Number(item.dataset.seq) > readSeq && item.dataset.user !== config.user,
  );
  if (!first) return;
  const divider = el("li", "unread-divider");
  divider.setAttribute("role", "separator");
  divider.append(el("span", "unread-divider-text", "New since you left"));
  first.before(divider);
}

byId("timeline").addEventListener("scroll", () => maybeRead(), { passive: true });
window.addEventListener("focus", () => maybeRead());

function ready(frame) {
  const first = lastSeq === null;
  applyRoom(frame.room);
  people.setOnline(frame.online);
  if (first || frame.recovered === false) {
    lastSeq = 0;
    timeline.reset(frame.messages, frame.has_more);
    for (const message of frame.messages) {
      track(message);
      if (message.client_id && !message.deleted && message.user === config.user) outbox.confirmed(message.client_id);
    }
    if (first) markNewSince(frame.read_seq);
    if (!first) {
      showNotice(
        "You were away too long to catch up message by message, so the conversation was reloaded " +
          "with the latest messages. Scroll up for older ones.",
      );
    }
  } else {
    for (const message of frame.messages) live(message);
  }
  // Every change up to frame.changes is in these messages or replayed right after them.
  changes.ready(frame.changes, first || frame.recovered === false);
  // ready says whether the user is muted here, and until when: the box shuts before a
  // send is refused. Without it (not muted, or an older server) a mute lifted while
  // this page was away told nobody: do not keep the box shut on a guess; a mute that
  // still holds is then said again by the first send, with its end.
  if (frame.muted) muted(frame.muted.until);
  else if (!first && composer.muted) {
    composer.setMuted(false);
    muteEnded();
  }
  // Whatever the server did not confirm above goes again, with the same client_id.
  outbox.resendAll();
  jump.afterReady();
  maybeRead();
}

/** A mute began, changed or was lifted (`until`: ISO text, null for until lifted; false: lifted). */
function muted(until) {
  const date = until ? new Date(until) : until;
  const wasMuted = composer.muted;
  composer.setMuted(date);
  if (date !== false) {
    showNotice(mutedText(date));
    noticeIsMute = true;
  } else if (wasMuted) {
    muteEnded();
    toast("A moderator lifted your mute: you can write again.");
  }
}

function muteEnded() {
  if (noticeIsMute) notice.hidden = true;
  noticeIsMute = false;
}

function error(frame) {
  if (frame.code === "muted") {
    // A page whose ready did not say (an older server) learns of it when it first sends.
    const until = frame.retry_after ? new Date(Date.now() + frame.retry_after * 1000).toISOString() : null;
    if (!composer.muted) muted(until);
  }
  if (frame.client_id) {
    if (frame.code === "rate_limited") composer.setCooldown(frame.retry_after);
    outbox.failed(frame.client_id, frame.detail);
    return;
  }
  timeline.olderFailed();
  if (timeline.editFailed(frame.detail)) return;
  // forbidden and not_found come just before a closing code, which the notice explains.
  if (frame.code !== "forbidden" && frame.code !== "not_found") toast(frame.detail, "error");
}

function handle(frame) {
  switch (frame.type) {
    case "ready":
      ready(frame);
      break;
    case "message":
      live(frame);
      break;
    case "ack":
      if (timeline.confirm(frame.client_id, frame)) outbox.confirmed(frame.client_id);
      if (config.slowMode > 0 && !config.isModerator) composer.setCooldown(config.slowMode);
      break;
    case "history":
      timeline.prepend(frame.messages, frame.has_more);
      break;
    case "join":
      people.join(frame.user);
      break;
    case "leave":
      people.leave(frame.user);
      break;
    case "presence":
      people.presence(frame.joined, frame.left);
      break;
    case "typing":
      people.typing(frame.user, frame.active);
      break;
    case "deleted":
      timeline.tombstone(frame.id, frame.seq);
      replyBar.forget(frame.id);
      changes.applied(frame.change);
      break;
    case "update":
      timeline.update(frame.message);
      changes.applied(frame.change);
      break;
    case "room":
      applyRoom(frame.room);
      break;
    case "muted":
      muted(frame.until);
      break;
    case "unmuted":
      muted(false);
      break;
    case "reported":
      toast("Thanks. The moderators will look at that message.");
      break;
    case "error":
      error(frame);
      break;
    default:
      break; // pong, and frame types this page does not know yet
  }
}

document.addEventListener("visibilitychange", () => {
  if (!document.hidden) {
    unseenWhileHidden = 0;
    document.title = baseTitle;
    maybeRead();
  }
});

// The sidebar (/ws/me/): reading this room in another tab clears this tab's count too.
startSidebar({
  onRead: (frame) => {
    if (frame.room === config.slug && frame.seq >= (lastSeq ?? 0) && unseenWhileHidden) {
      unseenWhileHidden = 0;
      document.title = baseTitle;
    }
  },
});

applyRoom({ locked: config.locked, slow_mode: config.slowMode });
socket.start();
// Opening a room is for writing in it: the box takes the keys at once.
byId("composer-input").focus({ preventScroll: true });

// Actions on a message from its buttons: report (over the WebSocket), delete your own,
// and for moderators delete, mute and ban (POSTs to the room's moderation URLs, with CSRF).
// One <dialog> asks for confirmation, a reason and, for mute and ban, a duration.

import { callJson } from "./http.js";

const KINDS = {
  report: {
    title: "Report message",
    confirm: "Report",
    text: (user, excerpt) => `Send ${user}’s message “${excerpt}” to the moderators?`,
  },
  delete: {
    title: "Delete message",
    confirm: "Delete",
    danger: true,
    text: (user, excerpt) => `Delete ${user}’s message “${excerpt}” for everyone?`,
  },
  "delete-own": {
    title: "Delete your message",
    confirm: "Delete",
    danger: true,
    noReason: true, // your own words: nothing to explain to the moderators
    text: (user, excerpt) => `Delete your message “${excerpt}” for everyone? It shows as “message deleted”.`,
  },
  mute: {
    title: "Mute user",
    confirm: "Mute",
    danger: true,
    duration: true,
    text: (user) => `${user} will still read this room but cannot write in it.`,
  },
  ban: {
    title: "Ban user",
    confirm: "Ban",
    danger: true,
    duration: true,
    text: (user) => `${user} is disconnected from this room and cannot come back.`,
  },
};
const EXCERPT_LENGTH = 80;

function excerpt(item) {
  const text = item.querySelector(".msg-body")?.textContent || "";
  return text.length > EXCERPT_LENGTH ? `${text.slice(0, EXCERPT_LENGTH)}…` : text;
}

export class ActionDialog {
  constructor({ dialog, roomUrl, csrfToken, socket, toast, fallbackFocus }) {
    this.dialog = dialog;
    this.roomUrl = roomUrl;
    this.csrfToken = csrfToken;
    this.socket = socket;
    this.toast = toast;
    this.fallbackFocus = fallbackFocus;
    this.form = dialog.querySelector("form");
    this.title = dialog.querySelector("#dialog-title");
    this.text = dialog.querySelector("#dialog-text");
    this.durationRow = dialog.querySelector("#dialog-duration-row");
    this.minutes = dialog.querySelector("#dialog-minutes");
    this.reason = dialog.querySelector("#dialog-reason");
    this.error = dialog.querySelector("#dialog-error");
    this.confirmButton = dialog.querySelector("#dialog-confirm");
    this.current = null;
    dialog.querySelector("#dialog-cancel").addEventListener("click", () => dialog.close());
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.confirm();
    });
    dialog.addEventListener("close", () => {
      // The button that opened the dialog is gone when its message was just deleted.
      const opener = this.current?.opener;
      if (opener?.isConnected) opener.focus();
      else this.fallbackFocus.focus({ preventScroll: true });
      this.current = null;
    });
  }

  open(kind, item) {
    const spec = KINDS[kind];
    if (!spec) return;
    const user = item.dataset.user;
    this.current = { kind, id: Number(item.dataset.id), user, opener: document.activeElement };
    this.title.textContent = spec.title;
    this.text.textContent = spec.text(user, excerpt(item));
    this.durationRow.hidden = !spec.duration;
    this.reason.closest(".field").hidden = Boolean(spec.noReason);
    this.reason.value = "";
    this.error.hidden = true;
    this.confirmButton.textContent = spec.confirm;
    this.confirmButton.classList.toggle("button-danger", Boolean(spec.danger));
    this.confirmButton.disabled = false;
    this.dialog.showModal();
    if (spec.noReason) this.confirmButton.focus();
    else this.reason.focus();
  }

  fail(detail) {
    this.error.textContent = detail;
    this.error.hidden = false;
    this.confirmButton.disabled = false;
  }

  async confirm() {
    const action = this.current;
    if (!action) return;
    const reason = this.reason.value.trim();
    if (action.kind === "report") {
      if (this.socket.send({ type: "report", id: action.id, reason })) this.dialog.close();
      else this.fail("Not connected. Try again when the room is live.");
      return;
    }
    // Authors delete their own through the moderators' URL: one service decides who may.
    const url =
      action.kind === "delete" || action.kind === "delete-own"
        ? `${this.roomUrl}messages/${encodeURIComponent(action.id)}/delete`
        : `${this.roomUrl}users/${encodeURIComponent(action.user)}/${action.kind}`;
    const body = new URLSearchParams({ reason });
    if (KINDS[action.kind].duration) body.set("minutes", this.minutes.value);
    this.confirmButton.disabled = true;
    const answer = await callJson(url, { csrfToken: this.csrfToken, body });
    if (!answer.ok) {
      this.fail(`Could not ${action.kind}: ${answer.detail}`);
      return;
    }
    this.dialog.close();
    if (action.kind === "mute") this.toast(`${action.user} is muted.`);
    if (action.kind === "ban") this.toast(`${action.user} is banned from this room.`);
  }
}

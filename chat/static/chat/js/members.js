// A private room's members panel: the member list for everyone and "Leave room";
// for the room's moderators also invite by username, Remove, Make moderator and
// invite links (create, copy, revoke). Every change is a POST with the CSRF token
// to the room's member URLs; the server decides who may (chat.membership) and the
// panel re-reads the list after each change. DOM nodes only, no HTML strings.

import { el } from "./format.js";
import { callJson } from "./http.js";

function when(iso) {
  const date = new Date(iso);
  return date.toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
}

export class MembersPanel {
  constructor({ dialog, opener, roomUrl, csrfToken, me, toast }) {
    this.dialog = dialog;
    this.opener = opener;
    this.roomUrl = roomUrl;
    this.csrfToken = csrfToken;
    this.me = me;
    this.toast = toast;
    const find = (id) => dialog.querySelector(`#${id}`);
    this.list = find("members-list");
    this.error = find("members-error");
    this.manage = find("members-manage");
    this.links = find("invite-links");
    this.username = find("invite-username");
    this.leaveButton = find("leave-room");
    this.leaveConfirm = find("leave-confirm");
    opener.addEventListener("click", () => this.open());
    find("members-close").addEventListener("click", () => dialog.close());
    dialog.addEventListener("close", () => opener.focus());
    find("invite-name-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.invite();
    });
    find("invite-link-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.createLink(new FormData(event.target));
    });
    // Leaving takes two clicks: the first only shows the button that leaves.
    this.leaveButton.addEventListener("click", () => {
      this.leaveConfirm.hidden = false;
      this.leaveConfirm.focus();
    });
    this.leaveConfirm.addEventListener("click", () => this.leave());
  }

  async open() {
    this.fail(null);
    this.leaveConfirm.hidden = true;
    this.dialog.showModal();
    await this.refresh();
  }

  fail(detail) {
    this.error.textContent = detail || "";
    this.error.hidden = !detail;
  }

  async post(path, fields = {}) {
    const answer = await callJson(`${this.roomUrl}${path}`, {
      csrfToken: this.csrfToken,
      body: new URLSearchParams(fields),
    });
    if (!answer.ok) this.fail(answer.detail);
    return answer;
  }

  async refresh() {
    const answer = await callJson(`${this.roomUrl}members`, { csrfToken: this.csrfToken });
    if (!answer.ok) {
      this.fail(answer.detail);
      return;
    }
    this.canManage = answer.canManage;
    this.manage.hidden = !answer.canManage;
    this.list.replaceChildren(...answer.members.map((member) => this.memberRow(member)));
    this.links.replaceChildren(...answer.invites.map((invite) => this.linkRow(invite)));
  }

  memberRow(member) {
    const row = el("li", "member-row");
    row.dataset.user = member.username;
    row.append(el("span", "member-name", member.username === this.me ? `${member.username} (you)` : member.username));
    if (member.moderator) row.append(el("span", "badge", "moderator"));
    if (this.canManage && member.username !== this.me) {
      if (!member.moderator) {
        const promote = el("button", "button button-quiet button-small member-promote", "Make moderator");
        promote.type = "button";
        promote.setAttribute("aria-label", `Make ${member.username} a moderator`);
        promote.addEventListener("click", () => this.change(member.username, "moderator", "is a moderator now."));
        row.append(promote);
      }
      const remove = el("button", "button button-danger button-small member-remove", "Remove");
      remove.type = "button";
      remove.setAttribute("aria-label", `Remove ${member.username} from the room`);
      remove.addEventListener("click", () => this.change(member.username, "remove", "was removed."));
      row.append(remove);
    }
    return row;
  }

  linkRow(invite) {
    const row = el("li", "invite-link");
    row.dataset.id = String(invite.id);
    const field = el("input", "invite-url");
    field.readOnly = true;
    field.value = invite.url;
    field.setAttribute("aria-label", "Invite link");
    const left = invite.maxUses === null ? null : invite.maxUses - invite.uses;
    const uses = left === null ? "any number of people" : `${left} more ${left === 1 ? "person" : "people"}`;
    const meta = el("span", "invite-meta", `Lets in ${uses}; expires ${when(invite.expiresAt)}`);
    const copy = el("button", "button button-quiet button-small invite-copy", "Copy");
    copy.type = "button";
    copy.addEventListener("click", () => this.copy(field));
    const revoke = el("button", "button button-danger button-small invite-revoke", "Revoke");
    revoke.type = "button";
    revoke.setAttribute("aria-label", "Revoke this invite link");
    revoke.addEventListener("click", async () => {
      if ((await this.post(`invites/${invite.id}/revoke`)).ok) {
        this.toast("The invite link was revoked.");
        await this.refresh();
      }
    });
    row.append(field, copy, revoke, meta);
    return row;
  }

  async copy(field) {
    field.select();
    try {
      await navigator.clipboard.writeText(field.value);
      this.toast("Invite link copied.");
    } catch {
      // No clipboard permission (an http page, say): the link is selected to copy by hand.
      this.toast("Press Ctrl+C to copy the selected link.");
    }
  }

  async invite() {
    const username = this.username.value.trim();
    if (!username) return;
    this.fail(null);
    const answer = await this.post("members/add", { username });
    if (!answer.ok) return;
    this.username.value = "";
    this.toast(answer.added ? `${answer.user} is a member now.` : `${answer.user} already was a member.`);
    await this.refresh();
  }

  async change(username, action, done) {
    this.fail(null);
    if ((await this.post(`members/${encodeURIComponent(username)}/${action}`)).ok) {
      this.toast(`${username} ${done}`);
      await this.refresh();
      // The clicked button went with the old list: keep the keyboard in the panel.
      this.username.focus();
    }
  }

  async createLink(form) {
    this.fail(null);
    const answer = await this.post("invites", Object.fromEntries(form));
    if (!answer.ok) return;
    await this.refresh();
    this.links.querySelector(`[data-id="${answer.invite.id}"] .invite-url`)?.focus();
  }

  async leave() {
    this.fail(null);
    const answer = await this.post("leave");
    if (answer.ok) window.location.assign(answer.next);
  }
}

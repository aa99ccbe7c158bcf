// Direct messages from the room page: "Message" on a name (the online list, a
// message's menu) opens or finds the DM and goes there; "Block"/"Unblock" on a
// one-to-one DM's header. POSTs with the CSRF token; the server decides
// (chat.direct). DOM nodes only.

import { callJson } from "./http.js";

function post(url, csrfToken, fields) {
  const body = new FormData();
  for (const [name, value] of Object.entries(fields)) body.append(name, value);
  return callJson(url, { csrfToken, body });
}

/** Open (or find) the DM with `username` and go there; a refusal is shown with `toast`. */
export async function openDm({ url, csrfToken, username, toast }) {
  const result = await post(url, csrfToken, { username });
  if (result.ok) window.location.assign(result.url);
  else toast(`Cannot message ${username}: ${result.detail}`, "error");
}

/** The header's Block/Unblock button of a one-to-one DM (absent elsewhere). */
export function setUpBlockButton({ button, url, csrfToken, toast }) {
  if (!button) return;
  const show = (blocked) => {
    button.dataset.blocked = blocked ? "1" : "0";
    button.textContent = blocked ? `Unblock ${button.dataset.user}` : `Block ${button.dataset.user}`;
  };
  show(button.dataset.blocked === "1");
  button.addEventListener("click", async () => {
    const block = button.dataset.blocked !== "1";
    const result = await post(url, csrfToken, { username: button.dataset.user, blocked: block ? "1" : "0" });
    if (!result.ok) {
      toast(result.detail, "error");
      return;
    }
    show(result.blocked);
    toast(result.blocked ? `${result.user} can no longer start new direct messages with you.` : `${result.user} is unblocked.`);
  });
}

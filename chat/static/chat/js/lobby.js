// The lobby: last-activity times get the full local date as a tooltip, and the
// room address is suggested from the title until the user edits it. Live: the
// sidebar's socket (/ws/me/?lobby=1) brings every listed room's activity, so a card
// says "active just now" when a message arrives, and the tab title counts unread.

import { openDm } from "./dms.js";
import { el, fullTime } from "./format.js";
import { startSidebar } from "./sidebar.js";

const baseTitle = document.title;

function roomActive(frame) {
  const card = document.querySelector(`.room-card[data-slug="${CSS.escape(frame.room)}"]`);
  const line = card?.querySelector(".last-activity");
  if (!line) return;
  const now = new Date();
  const time = el("time", "", "just now");
  time.dateTime = now.toISOString();
  time.title = fullTime(now);
  line.replaceChildren("active ", time);
  card.dataset.seq = String(frame.seq);
}

// Online counts: read again from the lobby page itself every 30 s while the tab is
// visible (presence is not on the sidebar socket). The fetched page is parsed inert
// (DOMParser runs no script) and only numbers are copied over.
const ONLINE_EVERY_MS = 30000;

async function refreshOnline() {
  if (document.hidden) return;
  let html;
  try {
    const response = await fetch(location.pathname, { credentials: "same-origin" });
    if (!response.ok) return;
    html = await response.text();
  } catch {
    return; // offline: the next round tries again
  }
  const fresh = new DOMParser().parseFromString(html, "text/html");
  for (const card of document.querySelectorAll(".room-card[data-slug]")) {
    const count = card.querySelector(".online-count");
    const slug = CSS.escape(card.dataset.slug);
    const now = fresh.querySelector(`.room-card[data-slug="${slug}"] .online-count`);
    if (!count || !now) continue;
    const online = Number(now.dataset.online) || 0;
    count.dataset.online = String(online);
    count.classList.toggle("is-active", online > 0);
    count.lastChild.textContent = `${online} online`;
  }
}

setInterval(refreshOnline, ONLINE_EVERY_MS);

startSidebar({
  onActivity: roomActive,
  onTotal: (total) => {
    document.title = total ? `(${total}) ${baseTitle}` : baseTitle;
  },
});

for (const time of document.querySelectorAll("time[data-local]")) {
  const date = new Date(time.dateTime);
  if (!Number.isNaN(date.getTime())) time.title = fullTime(date);
}

const title = document.getElementById("id_title");
const slug = document.getElementById("id_slug");
if (title && slug) {
  let edited = slug.value !== "";
  slug.addEventListener("input", () => {
    edited = slug.value !== "";
  });
  const suggest = () => {
    if (edited) return;
    slug.value = title.value
      .normalize("NFKD")
      .replace(/[\u0300-\u036f]/g, "")
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, "-")
      .replace(/^-+|-+$/g, "")
      .slice(0, 50);
  };
  title.addEventListener("input", suggest);
  // A title typed before this module ran (a slow page load) still gets its address.
  if (title.value) suggest();
}

// "Direct message": the names typed (commas between) open or find the DM and go there.
const dmForm = document.getElementById("dm-form");
if (dmForm) {
  const error = document.getElementById("dm-error");
  dmForm.addEventListener("submit", (event) => {
    event.preventDefault();
    error.hidden = true;
    openDm({
      url: dmForm.action,
      csrfToken: dmForm.querySelector("[name=csrfmiddlewaretoken]").value,
      username: document.getElementById("dm-usernames").value,
      toast: (text) => {
        error.textContent = text;
        error.hidden = false;
      },
    });
  });
}

// The lobby: last-activity times get the full local date as a tooltip, and the
// room address is suggested from the title until the user edits it. Live: the
// sidebar's socket (/ws/me/?lobby=1) brings every listed room's activity, so a card
// says "active just now" when a message arrives, and the tab title counts unread.

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

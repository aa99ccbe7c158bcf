// The lobby: last-activity times get the full local date as a tooltip, and the
// room address is suggested from the title until the user edits it.

import { fullTime } from "./format.js";

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

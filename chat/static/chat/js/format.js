// Plain formatting helpers: local times, avatar colours, text with safe links.
// Everything here builds DOM nodes from text; nothing ever parses user data as HTML.

const TIME = { hour: "2-digit", minute: "2-digit" };
const DAY_TIME = { weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" };
const FULL = { dateStyle: "full", timeStyle: "medium" };
const URL_RE = /\bhttps?:\/\/[^\s<>"']+/g;
const TRAILING_PUNCTUATION = /[.,;:!?)\]}'"]+$/;
export const AVATAR_COLOURS = 8;

/** A Date from the server's ISO 8601 UTC timestamp (now, for a pending message). */
export function parseTimestamp(ts) {
  const date = ts ? new Date(ts) : new Date();
  return Number.isNaN(date.getTime()) ? new Date() : date;
}

function sameDay(a, b) {
  return a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();
}

/** "14:03" today, "Mon 3 Jun, 14:03" on other days, in the reader's time zone. */
export function shortTime(date, now = new Date()) {
  return date.toLocaleString([], sameDay(date, now) ? TIME : DAY_TIME);
}

/** The full local date and time, for a tooltip. */
export function fullTime(date) {
  return date.toLocaleString([], FULL);
}

/** A stable colour class for a username, so each person keeps a colour. */
export function avatarClass(name) {
  let hash = 0;
  for (const char of name) hash = (hash * 31 + char.codePointAt(0)) >>> 0;
  return `avatar-c${hash % AVATAR_COLOURS}`;
}

/** An element with a class and (optional) text content. */
export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = text;
  return node;
}

/**
 * Append `text` to `parent` as text nodes, with http(s) URLs as links.
 * Only the URL's own text goes into the link; the href is set only when the URL
 * parses with an http: or https: scheme, so nothing else can become a link.
 */
export function appendLinkified(parent, text) {
  let last = 0;
  for (const match of text.matchAll(URL_RE)) {
    const url = match[0].replace(TRAILING_PUNCTUATION, "");
    const start = match.index;
    let href = null;
    try {
      const parsed = new URL(url);
      if (parsed.protocol === "http:" || parsed.protocol === "https:") href = parsed.href;
    } catch {
      href = null;
    }
    if (href === null) continue;
    parent.append(document.createTextNode(text.slice(last, start)));
    const link = el("a", "msg-link", url);
    link.href = href;
    link.rel = "noopener noreferrer nofollow";
    link.target = "_blank";
    parent.append(link);
    last = start + url.length;
  }
  parent.append(document.createTextNode(text.slice(last)));
}

/** A client_id: 128 random bits as hex (crypto.randomUUID needs a secure context). */
export function newClientId() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

// Formatting helpers: local times, avatar colours, and message bodies rendered as a
// small markdown subset with safe links and highlighted mentions. Everything here
// builds DOM nodes from text; nothing ever parses user data as HTML.

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

/** The href for `url` if it parses with an http: or https: scheme, else null. */
function safeHref(url) {
  try {
    const parsed = new URL(url);
    if (parsed.protocol === "http:" || parsed.protocol === "https:") return parsed.href;
  } catch {
    return null;
  }
  return null;
}

function linkNode(text, href) {
  const link = el("a", "msg-link", text);
  link.href = href;
  link.rel = "noopener noreferrer nofollow";
  link.target = "_blank";
  return link;
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
    const href = safeHref(url);
    if (href === null) continue;
    parent.append(document.createTextNode(text.slice(last, start)));
    parent.append(linkNode(url, href));
    last = start + url.length;
  }
  parent.append(document.createTextNode(text.slice(last)));
}

// --- the markdown subset (docs/protocol.md, "Formatting") -----------------------------
// A tokenizer turns the typed text into blocks (text, fenced code, quotes) and runs
// of inline tokens (code, bold, italic, links, mentions); a builder makes DOM nodes
// of them with textContent only. A marker without its partner stays as typed.

// The mention grammar of chat/wire/mentions.py: "@" not after a name character or "/".
const NAME = "[\\p{L}\\p{N}\\p{M}_.@+\\-]";
const MENTION_SRC = `(?<!${NAME}|/)@([\\p{L}\\p{N}\\p{M}_]${NAME}*)`;
const TRAILING_NAME = /[.@+-]+$/u;
const INLINE = new RegExp(
  [
    "`([^`\\n]+)`", // 1: code
    "\\*\\*(?=\\S)([^\\n]+?)(?<=\\S)\\*\\*", // 2: bold
    "(?<!\\*)\\*(?=[^\\s*])([^*\\n]+?)(?<=\\S)\\*(?!\\*)", // 3: italic
    "\\[([^\\]\\n]+)\\]\\((https?:\\/\\/[^\\s)]+)\\)", // 4, 5: [text](url)
    "\\bhttps?:\\/\\/[^\\s<>\"']+", // a bare URL
    MENTION_SRC, // 6: @name
  ].join("|"),
  "gu",
);
const FENCE = /^ {0,3}```(.*)$/;
const QUOTE = /^>[ ]?/;

/**
 * The blocks of a body: {kind: "text"|"code"|"quote", text, lang}. Fences pair up as
 * in chat/wire/mentions.py (an unclosed one is text); a quote is a run of "> " lines.
 */
export function blocks(text) {
  const lines = text.split("\n");
  const out = [];
  let plain = [];
  const flush = () => {
    if (plain.length) out.push({ kind: "text", text: plain.join("\n") });
    plain = [];
  };
  for (let i = 0; i < lines.length; i += 1) {
    const fence = FENCE.exec(lines[i]);
    if (fence) {
      const close = lines.findIndex((line, j) => j > i && FENCE.test(line));
      if (close !== -1) {
        flush();
        out.push({ kind: "code", lang: fence[1].trim(), text: lines.slice(i + 1, close).join("\n") });
        i = close;
        continue;
      }
    }
    if (QUOTE.test(lines[i])) {
      const quoted = [];
      while (i < lines.length && QUOTE.test(lines[i])) quoted.push(lines[i++].replace(QUOTE, ""));
      i -= 1;
      flush();
      out.push({ kind: "quote", text: quoted.join("\n") });
      continue;
    }
    plain.push(lines[i]);
  }
  flush();
  return out;
}

function mentionNode(token, { mentions, mentionsRoom, me }) {
  // The longer name first, as the server resolves it (chat.wire.mentions.resolve).
  const stripped = token.replace(TRAILING_NAME, "");
  if (stripped.toLowerCase() === "room") {
    if (!mentionsRoom) return null;
    return [el("span", "mention mention--room mention--me", `@${stripped}`), token.slice(stripped.length)];
  }
  const name = [token, stripped].find((candidate) => mentions.has(candidate));
  if (!name) return null;
  const node = el("span", name === me ? "mention mention--me" : "mention", `@${name}`);
  return [node, token.slice(name.length)];
}

/** Append the inline tokens of `text`; `allow` lists the kinds still allowed inside. */
function appendInline(parent, text, context, allow) {
  let last = 0;
  const plain = (end) => {
    if (end > last) parent.append(document.createTextNode(text.slice(last, end)));
  };
  for (const match of text.matchAll(INLINE)) {
    const [whole, code, bold, italic, linkText, linkUrl, mention] = match;
    const start = match.index;
    let nodes = null;
    let length = whole.length;
    if (code !== undefined && allow.has("code")) {
      nodes = [el("code", "msg-code", code)];
    } else if (bold !== undefined && allow.has("bold")) {
      const strong = el("strong", "msg-bold");
      appendInline(strong, bold, context, new Set(["code", "italic", "link", "mention"]));
      nodes = [strong];
    } else if (italic !== undefined && allow.has("italic")) {
      const em = el("em", "msg-italic");
      appendInline(em, italic, context, new Set(["code", "link", "mention"]));
      nodes = [em];
    } else if (linkText !== undefined && allow.has("link")) {
      const href = safeHref(linkUrl);
      if (href !== null) nodes = [linkNode(linkText, href)];
    } else if (mention !== undefined) {
      if (allow.has("mention")) nodes = mentionNode(mention, context);
    } else if (whole.startsWith("http") && allow.has("link")) {
      const url = whole.replace(TRAILING_PUNCTUATION, "");
      const href = safeHref(url);
      if (href !== null) [nodes, length] = [[linkNode(url, href)], url.length];
    }
    if (nodes === null) continue; // not a token here: stays text
    plain(start);
    parent.append(...nodes.filter((node) => node !== ""));
    last = start + length;
  }
  plain(text.length);
}

const EVERYTHING = new Set(["code", "bold", "italic", "link", "mention"]);

/**
 * Append a message body to `parent`, formatted (docs/protocol.md, "Formatting").
 * `mentions` are the payload's usernames; a matching @name is highlighted, and
 * `@room` when `mentionsRoom`. Only text nodes and fixed elements are created.
 */
export function appendFormatted(parent, text, { mentions = [], mentionsRoom = false, me = "" } = {}) {
  const context = { mentions: new Set(mentions), mentionsRoom, me };
  for (const block of blocks(text)) {
    if (block.kind === "code") {
      const pre = el("pre", "msg-code-block");
      const code = el("code", null, block.text);
      if (block.lang) code.dataset.lang = block.lang;
      pre.append(code);
      parent.append(pre);
    } else if (block.kind === "quote") {
      const quote = el("blockquote", "msg-quote");
      appendInline(quote, block.text, context, EVERYTHING);
      parent.append(quote);
    } else {
      appendInline(parent, block.text, context, EVERYTHING);
    }
  }
}

/** Whether a message payload mentions `me` (by name, or @room). */
export function mentionsMe(message, me) {
  if (!me || message.deleted) return false;
  return Boolean(message.mentions_room) || (message.mentions || []).includes(me);
}

/** A client_id: 128 random bits as hex (crypto.randomUUID needs a secure context). */
export function newClientId() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

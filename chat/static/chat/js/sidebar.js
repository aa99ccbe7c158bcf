// The sidebar of every chat page: the user's rooms with unread and mention badges,
// kept live over /ws/me/. "activity" adds what arrived in a room (from any process),
// "read" clears what the user read in any tab. A room with nothing unread shows no
// badge. The lobby also gets the activity of every room it lists (onActivity).

import { el } from "./format.js";
import { RoomSocket } from "./socket.js";

const BIG = 99;

function badgeText(count, prefix = "") {
  return `${prefix}${count > BIG ? `${BIG}+` : count}`;
}

export class Sidebar {
  constructor({ nav, onActivity, onRead, onTotal } = {}) {
    this.nav = nav;
    this.list = nav.querySelector("#sidebar-rooms");
    this.current = nav.dataset.current || "";
    this.roomUrl = nav.dataset.roomUrl;
    this.onActivity = onActivity || (() => {});
    this.onRead = onRead || (() => {});
    this.onTotal = onTotal || (() => {});
    this.rooms = new Map();
    // One Tab stop for the whole list (the arrows move within it), so a long sidebar
    // does not stand between the timeline and the message box.
    this.stop = this.current;
    this.list.addEventListener("keydown", (event) => this.keydown(event));
    this.list.addEventListener("focusin", (event) => {
      const li = event.target.closest("li.sidebar-room");
      if (li) this.stop = li.dataset.slug;
    });
    const data = document.getElementById("sidebar-data");
    this.setRooms(data ? JSON.parse(data.textContent) : []);
    this.socket = new RoomSocket({
      path: nav.dataset.wsPath,
      getSince: () => null,
      onFrame: (frame) => this.handle(frame),
      onState: ({ state }) => {
        nav.dataset.state = state;
      },
    });
  }

  start() {
    this.socket.start();
  }

  setRooms(rooms) {
    this.rooms = new Map(rooms.map((room) => [room.slug, { ...room }]));
    this.render();
  }

  handle(frame) {
    if (frame.type === "ready") this.setRooms(frame.rooms);
    else if (frame.type === "activity") this.activity(frame);
    else if (frame.type === "read") this.read(frame);
  }

  activity(frame) {
    this.onActivity(frame);
    const room = this.rooms.get(frame.room);
    if (!room || frame.seq <= room.last_seq) return;
    room.last_seq = frame.seq;
    if (frame.seq > room.read_seq) {
      room.unread += frame.new;
      room.mentions += frame.mentions;
    }
    this.render();
  }

  read(frame) {
    let room = this.rooms.get(frame.room);
    if (!room) {
      // A room opened for the first time (in this tab or another) joins the list.
      room = { slug: frame.room, title: frame.room, last_seq: frame.seq, read_seq: 0, unread: 0, mentions: 0 };
      this.rooms.set(frame.room, room);
    }
    room.read_seq = Math.max(room.read_seq, frame.seq);
    room.last_seq = Math.max(room.last_seq, frame.seq);
    if (room.read_seq >= room.last_seq) {
      room.unread = 0;
      room.mentions = 0;
    } else {
      // Part of it read: what is left is at most what came after the position.
      room.unread = Math.min(room.unread, room.last_seq - room.read_seq);
      room.mentions = Math.min(room.mentions, room.unread);
    }
    this.onRead(frame);
    this.render();
  }

  /** Unread messages in every room but the one this page shows. */
  total() {
    let total = 0;
    for (const room of this.rooms.values()) if (room.slug !== this.current) total += room.unread;
    return total;
  }

  render() {
    const hadFocus = this.list.contains(document.activeElement);
    const items = [];
    for (const room of this.rooms.values()) items.push(this.item(room));
    if (!items.length) items.push(el("li", "sidebar-empty", "Rooms you open appear here."));
    this.list.replaceChildren(...items);
    const links = this.links();
    const stop = links.find((link) => link.parentElement.dataset.slug === this.stop) || links[0];
    for (const link of links) link.tabIndex = link === stop ? 0 : -1;
    if (hadFocus) stop?.focus({ preventScroll: true });
    this.onTotal(this.total());
  }

  links() {
    return [...this.list.querySelectorAll(".sidebar-link")];
  }

  /** ArrowUp/ArrowDown/Home/End move between the rooms (a roving tabindex). */
  keydown(event) {
    const links = this.links();
    const at = links.indexOf(document.activeElement);
    if (at < 0) return;
    const to = { ArrowDown: at + 1, ArrowUp: at - 1, Home: 0, End: links.length - 1 }[event.key];
    if (to === undefined || to < 0 || to >= links.length) return;
    event.preventDefault();
    links[at].tabIndex = -1;
    links[to].tabIndex = 0;
    links[to].focus();
  }

  item(room) {
    const li = el("li", "sidebar-room");
    li.dataset.slug = room.slug;
    li.dataset.unread = String(room.unread);
    li.dataset.mentions = String(room.mentions);
    const link = el("a", "sidebar-link");
    link.href = this.roomUrl.replace("room-slug", encodeURIComponent(room.slug));
    if (room.slug === this.current) {
      li.classList.add("is-current");
      link.setAttribute("aria-current", "page");
    }
    // The room on screen shows no badges: its page is where it is read.
    const here = room.slug === this.current;
    const mentions = el("span", "sidebar-mentions", badgeText(room.mentions, "@"));
    mentions.hidden = here || !room.mentions;
    mentions.title = `${room.mentions} mention${room.mentions === 1 ? "" : "s"} of you`;
    const unread = el("span", "sidebar-unread", badgeText(room.unread));
    unread.hidden = here || !room.unread;
    unread.title = `${room.unread} unread`;
    link.append(el("span", "sidebar-name", room.title), mentions, unread);
    const news = [];
    if (!here && room.unread) news.push(`${room.unread} unread`);
    if (!here && room.mentions) news.push(`${room.mentions} mentioning you`);
    if (news.length) link.setAttribute("aria-label", `${room.title}, ${news.join(", ")}`);
    li.append(link);
    return li;
  }
}

/** Start the page's sidebar, if it has one (signed-in users). */
export function startSidebar(options) {
  const nav = document.getElementById("sidebar");
  if (!nav) return null;
  const sidebar = new Sidebar({ nav, ...options });
  sidebar.start();
  return sidebar;
}

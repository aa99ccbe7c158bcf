// Opening the room at one message (?at=SEQ, the link of a search result): after the
// first ready, load the messages around it through the HTTP history API (the same
// access checks and history as the socket), scroll to it and highlight it.
// That part of history can be far above the newest messages: a gap marker between
// the two loads what lies in between when it comes into view (or is clicked).
// Messages only enter the timeline through Timeline.upsert, in seq order.

import { el } from "./format.js";

// Messages loaded on each side of the target.
const AROUND = 25;

export function seqFromLocation() {
  const value = new URLSearchParams(window.location.search).get("at");
  return value && /^[1-9][0-9]{0,15}$/.test(value) ? Number(value) : null;
}

export class JumpTo {
  constructor({ timeline, list, historyUrl, seq, pageSize, toast }) {
    this.timeline = timeline;
    this.list = list;
    this.historyUrl = historyUrl;
    this.seq = seq;
    this.pageSize = pageSize;
    this.toast = toast;
    this.started = false;
    this.filling = false;
    this.gap = el("li", "history-gap");
    const button = el("button", "link-button", "Load newer messages");
    button.type = "button";
    button.addEventListener("click", () => this.fillGap());
    this.gap.append(button);
    this.observer = new IntersectionObserver((entries) => {
      if (entries.some((entry) => entry.isIntersecting)) this.fillGap();
    });
  }

  /** After each ready: the first time, go to the message; later, keep the gap right. */
  async afterReady() {
    if (this.seq === null) return;
    if (this.started) {
      this.placeGap();
      return;
    }
    this.started = true;
    if (!this.timeline.bySeq.has(this.seq)) {
      const page = await this.load(this.seq + AROUND + 1, 2 * AROUND + 1);
      if (page === null) return;
      for (const message of page.messages) this.timeline.upsert(message);
      if (page.messages.length && page.messages[0].seq <= this.timeline.lowestSeq()) {
        this.timeline.setHasMore(page.has_more);
      }
      this.placeGap();
    }
    this.reveal();
  }

  reveal() {
    const item = this.timeline.bySeq.get(this.seq);
    if (!item) {
      this.toast("That message is not in this room's history.");
      return;
    }
    item.classList.add("msg--target");
    item.scrollIntoView({ block: "center" });
    item.focus({ preventScroll: true });
    document.body.dataset.openedAt = String(this.seq);
  }

  /** ``{messages, has_more}``: the newest ``limit`` messages before ``beforeSeq``. */
  async load(beforeSeq, limit) {
    const url = `${this.historyUrl}?${new URLSearchParams({ before_seq: beforeSeq, limit })}`;
    try {
      const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      return await response.json();
    } catch (error) {
      this.toast(`Could not load that part of the history (${error.message}).`);
      return null;
    }
  }

  /** Put the gap marker after the first message whose successor is missing, or remove it. */
  placeGap() {
    const items = [...this.list.children].filter((item) => item.dataset.seq);
    for (let i = 0; i + 1 < items.length; i++) {
      if (Number(items[i + 1].dataset.seq) > Number(items[i].dataset.seq) + 1) {
        this.gap.dataset.after = items[i].dataset.seq;
        if (this.gap.previousElementSibling !== items[i]) items[i].after(this.gap);
        this.observer.observe(this.gap);
        return;
      }
    }
    this.observer.unobserve(this.gap);
    this.gap.remove();
  }

  /** Load the messages just after the gap's upper side. */
  async fillGap() {
    if (this.filling || !this.gap.isConnected) return;
    this.filling = true;
    const after = Number(this.gap.dataset.after);
    const limit = Math.max(1, this.pageSize);
    const page = await this.load(after + limit + 1, limit);
    if (page !== null) for (const message of page.messages) this.timeline.upsert(message);
    this.filling = false;
    this.placeGap();
  }
}

// Browser notifications for mentions: asked for only when the person presses the
// "Enable notifications" button (never on page load), shown only while the tab is
// hidden, for a message that mentions them (by name or @room) from someone else.

const BODY_CHARS = 140;

export class MentionNotifier {
  constructor({ button, status, room, me }) {
    this.button = button;
    this.status = status;
    this.room = room;
    this.me = me;
    this.supported = "Notification" in window;
    button.addEventListener("click", () => this.enable());
    this.render();
  }

  permission() {
    return this.supported ? Notification.permission : "unsupported";
  }

  async enable() {
    if (!this.supported) return;
    try {
      await Notification.requestPermission();
    } finally {
      this.render();
    }
  }

  render() {
    const permission = this.permission();
    this.button.hidden = permission !== "default";
    let text = "";
    if (permission === "granted") text = "Notifications on for mentions";
    else if (permission === "denied") text = "Notifications blocked in the browser settings";
    this.status.textContent = text;
    this.status.hidden = text === "";
    document.body.dataset.notifications = permission;
  }

  /** A live message arrived: notify when it mentions me and I am not looking. */
  consider(message, mentioned) {
    if (!mentioned || !document.hidden || message.user === this.me) return null;
    if (this.permission() !== "granted") return null;
    const body = message.body.length > BODY_CHARS ? `${message.body.slice(0, BODY_CHARS)}…` : message.body;
    // The tag folds a burst of mentions from one room into one notification.
    const notification = new Notification(`${message.user} mentioned you in #${this.room}`, {
      body,
      tag: `chat-mention-${this.room}`,
    });
    notification.addEventListener("click", () => {
      window.focus();
      notification.close();
    });
    return notification;
  }
}

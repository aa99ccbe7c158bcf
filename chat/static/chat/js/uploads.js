// Files for the next message: picked with the button, pasted, or dropped on the
// composer. Each is uploaded at once (POST api/rooms/<slug>/files, with progress),
// shown in the tray above the input, and sent with the message as `files: [ids]`.
// The server checks type and size by content; the size check here only spares a
// doomed upload. Everything is built from DOM nodes: a file name is someone's text.

import { el } from "./format.js";

/** "812 B", "12.4 KB", "3.1 MB". */
export function sizeText(size) {
  if (!(size >= 0)) return "";
  if (size < 1024) return `${size} B`;
  if (size < 1024 * 1024) return `${(size / 1024).toFixed(1)} KB`;
  return `${(size / (1024 * 1024)).toFixed(1)} MB`;
}

// What a file card shows for its type (a label, not an emoji: no font needed).
const TYPE_LABELS = { "application/pdf": "PDF", "application/zip": "ZIP", "text/plain": "TXT" };

// Thumbnails are at most 400 px; shown at most this big, keeping the proportions.
const SHOWN_PX = 240;

/** The nodes that show a message's files: images inline (click opens the full one), others as cards. */
export function fileNodes(files) {
  const list = el("div", "msg-files");
  for (const file of files || []) {
    const link = el("a", file.thumbnail_url ? "msg-file-image" : "msg-file-card");
    link.href = file.url;
    link.target = "_blank";
    link.rel = "noopener";
    if (file.thumbnail_url) {
      const image = el("img");
      image.src = file.thumbnail_url;
      image.alt = file.name;
      image.loading = "lazy";
      if (file.width && file.height) {
        const scale = Math.min(1, SHOWN_PX / Math.max(file.width, file.height));
        image.width = Math.max(1, Math.round(file.width * scale));
        image.height = Math.max(1, Math.round(file.height * scale));
      }
      link.append(image);
      link.title = `${file.name} (${sizeText(file.size)})`;
    } else {
      link.download = file.name;
      const kind = TYPE_LABELS[file.type] || "FILE";
      link.append(el("span", "msg-file-icon", kind), el("span", "msg-file-name", file.name), el("span", "msg-file-size", sizeText(file.size)));
    }
    list.append(link);
  }
  return list;
}

export class Uploads {
  constructor({ tray, button, input, dropZone, composerInput, uploadUrl, csrfToken, maxBytes, maxFiles, onChange }) {
    this.tray = tray;
    this.button = button;
    this.uploadUrl = uploadUrl;
    this.csrfToken = csrfToken;
    this.maxBytes = maxBytes;
    this.maxFiles = maxFiles;
    this.onChange = onChange;
    this.entries = []; // {file, node, state: "uploading"|"done"|"failed", info, request}
    button.addEventListener("click", () => input.click());
    input.addEventListener("change", () => {
      this.add([...input.files]);
      input.value = "";
    });
    composerInput.addEventListener("paste", (event) => {
      const files = [...(event.clipboardData?.files || [])];
      if (files.length) {
        event.preventDefault();
        this.add(files);
      }
    });
    dropZone.addEventListener("dragover", (event) => {
      if (![...(event.dataTransfer?.types || [])].includes("Files")) return;
      event.preventDefault();
      dropZone.classList.add("is-dropping");
    });
    dropZone.addEventListener("dragleave", () => dropZone.classList.remove("is-dropping"));
    dropZone.addEventListener("drop", (event) => {
      dropZone.classList.remove("is-dropping");
      const files = [...(event.dataTransfer?.files || [])];
      if (files.length) {
        event.preventDefault();
        this.add(files);
      }
    });
  }

  add(files) {
    for (const file of files) {
      if (this.entries.length >= this.maxFiles) {
        this.show(this.entry(file), "failed", `At most ${this.maxFiles} files per message`);
        continue;
      }
      const entry = this.entry(file);
      if (file.size > this.maxBytes) this.show(entry, "failed", `Too large: the limit is ${sizeText(this.maxBytes)}`);
      else this.upload(entry);
    }
    this.changed();
  }

  entry(file) {
    const node = el("li", "upload");
    const entry = { file, node, state: "uploading", info: null, request: null };
    this.entries.push(entry);
    this.tray.append(node);
    this.tray.hidden = false;
    return entry;
  }

  upload(entry) {
    const request = new XMLHttpRequest();
    entry.request = request;
    const form = new FormData();
    form.append("file", entry.file, entry.file.name || "pasted");
    request.open("POST", this.uploadUrl);
    request.setRequestHeader("X-CSRFToken", this.csrfToken);
    request.setRequestHeader("Accept", "application/json");
    request.responseType = "json";
    request.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) this.show(entry, "uploading", `${Math.floor((event.loaded / event.total) * 100)} %`);
    });
    request.addEventListener("load", () => {
      const body = request.response || {};
      if (request.status === 201) {
        entry.info = body;
        this.show(entry, "done");
      } else {
        this.show(entry, "failed", body.detail || `Upload failed (${request.status})`);
      }
      this.changed();
    });
    request.addEventListener("error", () => {
      this.show(entry, "failed", "Upload failed: no connection");
      this.changed();
    });
    this.show(entry, "uploading", "0 %");
    request.send(form);
  }

  show(entry, state, text) {
    entry.state = state;
    const name = entry.info?.name || entry.file.name || "pasted file";
    const parts = [];
    if (state === "done" && entry.info.thumbnail_url) {
      const image = el("img", "upload-thumb");
      image.src = entry.info.thumbnail_url;
      image.alt = "";
      parts.push(image);
    }
    parts.push(el("span", "upload-name", name));
    const status = el("span", "upload-status", state === "done" ? sizeText(entry.info.size) : text);
    if (state === "failed") status.setAttribute("role", "alert");
    parts.push(status);
    const remove = el("button", "upload-remove", "×");
    remove.type = "button";
    remove.setAttribute("aria-label", `Remove ${name}`);
    remove.addEventListener("click", () => this.remove(entry));
    parts.push(remove);
    entry.node.className = `upload upload--${state}`;
    entry.node.replaceChildren(...parts);
  }

  remove(entry) {
    entry.request?.abort();
    entry.node.remove();
    this.entries = this.entries.filter((other) => other !== entry);
    this.changed();
  }

  changed() {
    this.tray.hidden = this.entries.length === 0;
    this.onChange();
  }

  /** Uploading is possible only while the composer can send. */
  setEnabled(enabled) {
    this.button.disabled = !enabled;
  }

  /** Whether an upload is still running (sending waits for it). */
  busy() {
    return this.entries.some((entry) => entry.state === "uploading");
  }

  /** The uploaded files' entries, as the server described them. */
  ready() {
    return this.entries.filter((entry) => entry.state === "done").map((entry) => entry.info);
  }

  /** The message was sent: empty the tray (failed ones too; they were shown). */
  clear() {
    for (const entry of this.entries) entry.node.remove();
    this.entries = [];
    this.changed();
  }
}

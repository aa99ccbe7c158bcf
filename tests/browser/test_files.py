"""Files on the room page: an image pasted into the composer shows inline for the other
member, and its URL is refused to someone who is not a member of the private room."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.helpers.processes import DaphneServer

pytestmark = [
    pytest.mark.browser,
    pytest.mark.processes,
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(90),
]

# A 120x80 PNG drawn on a canvas, pasted as the clipboard's only file (a screenshot
# pasted with Ctrl+V arrives the same way: a File in the paste event's clipboardData).
PASTE_IMAGE = """async () => {
  const canvas = document.createElement("canvas");
  canvas.width = 120;
  canvas.height = 80;
  const context = canvas.getContext("2d");
  context.fillStyle = "#c42b33";
  context.fillRect(0, 0, 120, 80);
  const blob = await new Promise((done) => canvas.toBlob(done, "image/png"));
  const data = new DataTransfer();
  data.items.add(new File([blob], "screenshot.png", { type: "image/png" }));
  const input = document.getElementById("composer-input");
  input.focus();
  input.dispatchEvent(new ClipboardEvent("paste", { clipboardData: data, bubbles: true, cancelable: true }));
}"""

DROP_FILE = """([name, text]) => {
  const data = new DataTransfer();
  data.items.add(new File([text], name, { type: "text/plain" }));
  const zone = document.getElementById("composer-wrap");
  zone.dispatchEvent(new DragEvent("dragover", { dataTransfer: data, bubbles: true, cancelable: true }));
  zone.dispatchEvent(new DragEvent("drop", { dataTransfer: data, bubbles: true, cancelable: true }));
}"""


def test_a_pasted_image_shows_inline_for_the_other_member_and_not_for_an_outsider(
    site_env, open_ui, user, other_user, make_user, make_room, tmp_path
):
    secret = make_room("secret", is_private=True)
    secret.members.add(user, other_user)
    carol = make_user("carol")
    env = site_env | {"MEDIA_ROOT": str(tmp_path / "media")}
    with DaphneServer(env) as server:
        alice = open_ui(server.url, user=user).open_room("secret")
        bob = open_ui(server.url, user=other_user).open_room("secret")

        alice.page.evaluate(PASTE_IMAGE)
        upload = alice.page.locator("#upload-tray .upload--done")
        expect(upload).to_contain_text("screenshot.png")
        expect(upload.locator("img.upload-thumb")).to_be_visible()
        alice.composer.press("Enter")
        expect(alice.page.locator("#upload-tray")).to_be_hidden()

        image = bob.page.locator("#messages li.msg .msg-file-image img")
        expect(image).to_be_visible()
        expect(image).to_have_attribute("alt", "screenshot.png")
        bob.page.wait_for_function(
            "() => document.querySelector('#messages .msg-file-image img')?.naturalWidth === 120"
        )
        link = bob.page.locator("#messages .msg-file-image").get_attribute("href")
        thumbnail = image.get_attribute("src")
        alice.wait_confirmed()
        expect(alice.page.locator("#messages .msg-file-image img")).to_be_visible()

        # The other member may open the full image; it is served as an image, inline.
        full = bob.page.request.get(link)
        assert full.status == 200 and full.headers["content-type"] == "image/png"
        assert full.headers["x-content-type-options"] == "nosniff"
        assert full.headers["content-disposition"].startswith("inline")

        # Carol is signed in but no member of the room: both URLs are refused.
        outsider = open_ui(server.url, user=carol)
        for url in (link, thumbnail):
            refused = outsider.page.request.get(server.url + url)
            assert refused.status == 404, (url, refused.status)
        outsider.page.goto(server.url + link)
        expect(outsider.page.locator("body")).to_contain_text("no such file")


# fileNodes on a scratch element: a hostile name is text, never markup.
FILE_NODES = """async () => {
  const { fileNodes } = await import("/static/chat/js/uploads.js");
  const name = '<img src=x onerror="window.owned=1">.txt';
  const nodes = fileNodes([{ id: 1, name, size: 2048, type: "text/plain", url: "/files/1/x", thumbnail_url: null }]);
  return { text: nodes.textContent, images: nodes.querySelectorAll("img").length, owned: window.owned === 1 };
}"""


def test_a_dropped_html_file_is_refused_and_a_picked_file_is_a_card(
    site_env, open_ui, user, room, tmp_path
):
    env = site_env | {"MEDIA_ROOT": str(tmp_path / "media")}
    with DaphneServer(env) as server:
        alice = open_ui(server.url, user=user).open_room("lobby")
        alice.page.evaluate(DROP_FILE, ["cat.png", "<!doctype html><script>alert(1)</script>"])
        failed = alice.page.locator("#upload-tray .upload--failed")
        expect(failed).to_contain_text("HTML, SVG and XML files are not accepted")
        expect(alice.page.locator("#composer-send")).to_be_disabled()
        failed.get_by_role("button", name="Remove cat.png").click()
        expect(alice.page.locator("#upload-tray")).to_be_hidden()

        # A file picked with the Attach button is sent as a card with its name and size,
        # and offered as a download.
        with alice.page.expect_file_chooser() as chooser:
            alice.page.get_by_role("button", name="Attach").click()
        chooser.value.set_files(
            {"name": "notes.txt", "mimeType": "text/plain", "buffer": b"remember the milk\n"}
        )
        expect(alice.page.locator("#upload-tray .upload--done")).to_contain_text("notes.txt")
        alice.send("see notes")
        card = alice.message("see notes").locator(".msg-file-card")
        expect(card).to_contain_text("notes.txt")
        expect(card.locator(".msg-file-size")).to_have_text("18 B")
        expect(card).to_have_attribute("download", "notes.txt")

        shown = alice.page.evaluate(FILE_NODES)
        assert shown == {
            "text": 'TXT<img src=x onerror="window.owned=1">.txt2.0 KB',
            "images": 0,
            "owned": False,
        }
    stored = [p.suffix for p in (tmp_path / "media").rglob("*") if p.is_file()]
    assert stored == [".txt"]  # the refused HTML left nothing behind


def test_a_reply_can_carry_a_file_and_be_quoted_in_turn(
    site_env, open_ui, user, other_user, room, tmp_path
):
    env = site_env | {"MEDIA_ROOT": str(tmp_path / "media")}
    with DaphneServer(env) as server:
        alice = open_ui(server.url, user=user).open_room("lobby")
        bob = open_ui(server.url, user=other_user).open_room("lobby")
        bob.send("which menu?")
        alice.wait_for_message("which menu?")

        # Alice answers with the file alone, through the message's ⋯ menu.
        question = alice.message("which menu?")
        question.hover()
        question.get_by_role("button", name="Actions for").click()
        question.get_by_role("menuitem", name="Reply to bob").click()
        expect(alice.page.locator("#composer-reply")).to_contain_text("Replying to bob")
        with alice.page.expect_file_chooser() as chooser:
            alice.page.get_by_role("button", name="Attach").click()
        chooser.value.set_files({"name": "menu.txt", "mimeType": "text/plain", "buffer": b"soup\n"})
        expect(alice.page.locator("#upload-tray .upload--done")).to_contain_text("menu.txt")
        alice.composer.press("Enter")
        expect(alice.page.locator("#composer-reply")).to_be_hidden()

        answer = bob.page.locator("#messages li.msg", has=bob.page.locator(".msg-file-card"))
        expect(answer.locator(".msg-file-card")).to_contain_text("menu.txt")
        expect(answer.locator(".msg-quote")).to_contain_text("bob: which menu?")

        # Bob replies to the file: with no text to quote, the quote says so.
        answer.hover()
        answer.get_by_role("button", name="Actions for").click()
        answer.get_by_role("menuitem", name="Reply to alice").click()
        expect(bob.page.locator("#composer-reply")).to_contain_text("Replying to alice: (files)")
        bob.send("thanks")
        alice.wait_for_message("thanks")
        expect(alice.message("thanks").locator(".msg-quote")).to_contain_text("alice: (files)")

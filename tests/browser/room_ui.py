"""Drive the room page like a person would, and read what it shows."""

from __future__ import annotations

from playwright.sync_api import Locator, Page, expect

from tests.helpers.wait import wait_until

LIVE_TIMEOUT_MS = 15_000


class RoomUI:
    """One browser tab: the page, plus every script error and dialog it produced."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.on("dialog", self._dialog)

    def _dialog(self, dialog) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    # --- navigation -------------------------------------------------------------------

    def open_room(self, slug: str) -> RoomUI:
        self.page.goto(f"/rooms/{slug}/")
        self.wait_state("live")
        return self

    def wait_state(self, state: str, timeout: float = LIVE_TIMEOUT_MS) -> None:
        """Wait for the page's connection state (``document.body.dataset.state``)."""
        expect(self.page.locator("body")).to_have_attribute("data-state", state, timeout=timeout)

    def sign_up(self, username: str, password: str) -> None:
        """Fill the sign-up form on the current page and submit it."""
        self.page.locator("#id_username").fill(username)
        self.page.locator("#id_password1").fill(password)
        self.page.locator("#id_password2").fill(password)
        self.page.get_by_role("button", name="Sign up").click()

    # --- composing --------------------------------------------------------------------

    @property
    def composer(self) -> Locator:
        return self.page.locator("#composer-input")

    def send(self, text: str) -> None:
        """Type ``text`` (newlines with Shift+Enter) and press Enter."""
        self.composer.click()
        for index, line in enumerate(text.split("\n")):
            if index:
                self.composer.press("Shift+Enter")
            self.composer.press_sequentially(line)
        self.composer.press("Enter")

    # --- reading ----------------------------------------------------------------------

    def bodies(self) -> list[str]:
        """The text of every shown (not deleted) message, top to bottom."""
        return self.page.eval_on_selector_all(
            "#messages li.msg:not(.msg--deleted) .msg-body",
            "nodes => nodes.map(n => n.textContent)",
        )

    def seqs(self) -> list[int]:
        return self.page.eval_on_selector_all(
            "#messages li.msg[data-seq]", "nodes => nodes.map(n => Number(n.dataset.seq))"
        )

    def message(self, text: str) -> Locator:
        """The shown message whose body is exactly ``text``."""
        return self.page.locator("#messages li.msg").filter(
            has=self.page.locator(".msg-body", has_text=text)
        )

    def wait_for_message(self, text: str, timeout: float = 10) -> None:
        """Wait until a message with body exactly ``text`` is shown (once)."""
        wait_until(lambda: text in self.bodies(), timeout, f"message {text!r} on the page")

    def wait_confirmed(self, timeout: float = 10) -> None:
        """Wait until none of our messages is pending or failed."""
        expect(self.page.locator("#messages .msg--pending, #messages .msg--failed")).to_have_count(
            0, timeout=timeout * 1000
        )

    def online(self) -> list[str]:
        return self.page.eval_on_selector_all(
            "#online li", "nodes => nodes.map(n => n.dataset.user)"
        )

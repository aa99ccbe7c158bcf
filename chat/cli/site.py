"""The terminal client's view of a site: its URLs, signing in, and remembered tokens.

No Django and no asyncio: the client imports this without the server's settings.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

from chat.wire import versions

SLUG_RE = re.compile(r"^[-a-zA-Z0-9_]+$")  # Django's <slug:...> converter
HTTP_TIMEOUT = 15.0
CONFIG_ENV = "CHAT_CONFIG"


class ExitStatus:
    """The client's exit statuses (documented in docs/cli.md)."""

    OK = 0
    NOT_SENT = 1  # scripting mode: some lines were refused by the server
    USAGE = 2  # bad arguments, no credentials, no terminal to ask for a password
    NOT_AUTHENTICATED = 3  # wrong password, unknown or revoked token
    REFUSED = 4  # the server refused the room: forbidden, no such room, archived
    UNREACHABLE = 5  # cannot reach the server, gave up reconnecting, sign-in throttled
    INTERRUPTED = 130  # Ctrl-C in scripting mode


class Exit(Exception):
    """End the client with ``status`` after printing ``message`` (if any) to stderr."""

    def __init__(self, status: int, message: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class Site:
    """A chat site's base URL (``http(s)://host[:port][/prefix]``) and the URLs under it."""

    base: str  # normalised: no trailing slash

    @classmethod
    def parse(cls, url: str) -> Site:
        """Accept ``http(s)://`` (or ``ws(s)://``) URLs; raise ``Exit`` for anything else."""
        parts = urlsplit(url.strip())
        scheme = {"ws": "http", "wss": "https"}.get(parts.scheme.lower(), parts.scheme.lower())
        if scheme not in ("http", "https") or not parts.netloc:
            raise Exit(
                ExitStatus.USAGE,
                f"--url must be the site's address, like http://127.0.0.1:8000 (got {url!r})",
            )
        return cls(urlunsplit((scheme, parts.netloc, parts.path.rstrip("/"), "", "")))

    def http(self, path: str) -> str:
        return self.base + path

    def room_ws(self, slug: str, since: int | None = None, changes: int | None = None) -> str:
        """The room's WebSocket URL: ``ws://`` for ``http://``, ``wss://`` for ``https://``.

        It asks for the newest protocol version this client speaks (``v``);
        ``changes`` (the last change applied) goes with ``since`` only.
        """
        parts = urlsplit(self.base)
        scheme = "wss" if parts.scheme == "https" else "ws"
        path = f"{parts.path}/ws/rooms/{quote(slug)}/"
        return urlunsplit((scheme, parts.netloc, path, versions.query(since, changes), ""))


def check_slug(slug: str) -> str:
    """A room slug as the server's URLs accept it, else ``Exit``."""
    if not SLUG_RE.match(slug):
        raise Exit(
            ExitStatus.USAGE,
            f"--room takes a room's slug: letters, digits, - and _ (got {slug!r})",
        )
    return slug


# --- POST /api/token -----------------------------------------------------------


def _json_error(error: urllib.error.HTTPError) -> dict[str, Any]:
    try:
        data = json.loads(error.read(65536) or b"{}")
    except (ValueError, OSError):
        return {}
    return data if isinstance(data, dict) else {}


def exchange_password(site: Site, username: str, password: str) -> str:
    """Trade a username and password for an API token at ``POST /api/token``."""
    url = site.http("/api/token")
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked in Site.parse
        url,
        data=json.dumps({"username": username, "password": password}).encode(),
        headers={"Content-Type": "application/json", "Accept": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as response:  # noqa: S310
            token = json.loads(response.read()).get("token")
    except urllib.error.HTTPError as error:
        detail = _json_error(error).get("detail") or error.reason
        if error.code == 401:
            raise Exit(ExitStatus.NOT_AUTHENTICATED, f"sign-in failed: {detail}") from None
        if error.code == 429:
            raise Exit(ExitStatus.UNREACHABLE, f"sign-in refused: {detail}") from None
        raise Exit(
            ExitStatus.UNREACHABLE, f"sign-in failed: {url} answered {error.code} ({detail})"
        ) from None
    except (urllib.error.URLError, OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        raise Exit(ExitStatus.UNREACHABLE, f"cannot reach {url}: {reason}") from None
    if not isinstance(token, str) or not token:
        raise Exit(ExitStatus.UNREACHABLE, f"{url} did not answer with a token")
    return token


# --- POST /api/dms ------------------------------------------------------------


def open_dm(site: Site, token: str, username: str) -> str:
    """Open (or find) the direct messages with ``username`` at ``POST /api/dms``; its slug.

    A refusal (no such user, they blocked you) ends the client with ``REFUSED``.
    """
    url = site.http("/api/dms")
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked in Site.parse
        url,
        data=urlencode({"username": username}).encode(),
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
        },
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as response:  # noqa: S310
            slug = json.loads(response.read()).get("slug")
    except urllib.error.HTTPError as error:
        detail = _json_error(error).get("detail") or error.reason
        if error.code == 401:
            raise Exit(ExitStatus.NOT_AUTHENTICATED, f"not signed in: {detail}") from None
        if error.code in (400, 403, 404):
            raise Exit(ExitStatus.REFUSED, f"cannot message {username}: {detail}") from None
        raise Exit(ExitStatus.UNREACHABLE, f"{url} answered {error.code} ({detail})") from None
    except (urllib.error.URLError, OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        raise Exit(ExitStatus.UNREACHABLE, f"cannot reach {url}: {reason}") from None
    if not isinstance(slug, str) or not SLUG_RE.match(slug):
        raise Exit(ExitStatus.UNREACHABLE, f"{url} did not answer with a room")
    return slug


# --- remembered tokens -------------------------------------------------------------


def config_path() -> Path:
    """``$CHAT_CONFIG``, else ``$XDG_CONFIG_HOME/chat/tokens.json`` (``~/.config`` by default)."""
    if os.environ.get(CONFIG_ENV):
        return Path(os.environ[CONFIG_ENV]).expanduser()
    config_home = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config_home) / "chat" / "tokens.json"


class TokenStore:
    """Tokens remembered per site and username, in a JSON file only its owner can read.

    ``{"sites": {"http://host:8000": {"alice": "TOKEN"}}}``, mode 0600 in a 0700
    directory; written whole to a temporary file and renamed, so a crash never
    leaves half a file.
    """

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or config_path()

    def _load(self) -> dict[str, dict[str, str]]:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise Exit(
                ExitStatus.USAGE, f"cannot read {self.path} ({exc}); fix or delete it"
            ) from None
        sites = data.get("sites") if isinstance(data, dict) else None
        return sites if isinstance(sites, dict) else {}

    def _save(self, sites: dict[str, dict[str, str]]) -> None:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tokens-", dir=self.path.parent)  # mode 0600
        try:
            with os.fdopen(fd, "w") as file:
                json.dump({"sites": sites}, file, indent=2, sort_keys=True)
                file.write("\n")
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def is_private(self) -> bool:
        """False when others may read the file (then the client warns)."""
        try:
            return self.path.stat().st_mode & 0o077 == 0
        except FileNotFoundError:
            return True

    def get(self, site: Site, username: str) -> str | None:
        token = self._load().get(site.base, {}).get(username)
        return token if isinstance(token, str) else None

    def only_user(self, site: Site) -> tuple[str, str] | None:
        """``(username, token)`` when exactly one token is remembered for ``site``."""
        users = self._load().get(site.base, {})
        if len(users) == 1:
            ((username, token),) = users.items()
            return username, token
        return None

    def put(self, site: Site, username: str, token: str) -> None:
        sites = self._load()
        sites.setdefault(site.base, {})[username] = token
        self._save(sites)

    def forget(self, site: Site, username: str) -> None:
        sites = self._load()
        if sites.get(site.base, {}).pop(username, None) is not None:
            if not sites[site.base]:
                del sites[site.base]
            self._save(sites)

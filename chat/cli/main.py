"""The terminal client: ``python -m chat.cli --url URL (--room SLUG | --dm USER) (--token T | --user U)``.

Interactive when stdin is a terminal; scripting mode (each input line is a
message) when it is not; ``--follow`` prints the room's messages as JSON lines.
See docs/cli.md. Runs without Django: it shares only the pure ``chat.protocol`` and
``chat.errors`` modules with the server.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from chat.cli.site import (
    Exit,
    ExitStatus,
    Site,
    TokenStore,
    check_slug,
    exchange_password,
    open_dm,
)

TOKEN_ENV = "CHAT_TOKEN"  # noqa: S105 - the variable's name, not a secret
URL_ENV = "CHAT_URL"
SCRIPT_GIVE_UP_AFTER = 300.0  # scripting mode stops retrying after this long offline


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m chat.cli",
        description="Chat in a room from the terminal, or send and receive messages from scripts.",
        epilog=(
            "Credentials, first found wins: --token, $CHAT_TOKEN, --user (a remembered token, "
            "else a password prompt), the one token remembered for the site. "
            "Exit status: 0 ok, 1 some messages not sent, 2 usage, 3 not authenticated, "
            "4 refused by the room, 5 server unreachable. See docs/cli.md."
        ),
    )
    parser.add_argument(
        "--url",
        default=os.environ.get(URL_ENV),
        required=not os.environ.get(URL_ENV),
        help=f"the site's address, e.g. http://127.0.0.1:8000 (default ${URL_ENV})",
    )
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--room", help="the room's slug, e.g. general")
    where.add_argument(
        "--dm", metavar="USER", help="direct messages with USER (opened if new, then joined)"
    )
    who = parser.add_mutually_exclusive_group()
    who.add_argument("--token", help=f"an API token (or set ${TOKEN_ENV})")
    who.add_argument("--user", help="sign in as USER; the password is asked without echo")
    parser.add_argument(
        "--remember",
        action="store_true",
        help="with --user: keep the token in $CHAT_CONFIG (default ~/.config/chat/tokens.json, mode 0600)",
    )
    parser.add_argument(
        "--follow",
        action="store_true",
        help="print the room's new messages to stdout as JSON lines and keep running",
    )
    parser.add_argument(
        "--since",
        type=int,
        metavar="SEQ",
        help="with --follow: start with the messages after this seq",
    )
    parser.add_argument(
        "--give-up-after",
        type=float,
        metavar="SECONDS",
        help=f"stop reconnecting after this long offline (default: {SCRIPT_GIVE_UP_AFTER:g} "
        "in scripting mode, never otherwise)",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no notices on stderr")
    return parser


@dataclass(slots=True)
class Credentials:
    token: str
    source: str  # "option", "environment", "password" or "remembered"
    username: str | None = None


def ask_password(site: Site, username: str) -> str:
    """Prompt on the terminal without echo (also when stdin is a pipe)."""
    try:
        with open("/dev/tty"):
            pass
    except OSError:
        if not sys.stdin.isatty():
            raise Exit(
                ExitStatus.USAGE,
                "cannot ask for a password without a terminal; use --token or $CHAT_TOKEN",
            ) from None
    try:
        return getpass.getpass(f"Password for {username} at {site.base}: ")
    except (EOFError, KeyboardInterrupt):
        raise Exit(ExitStatus.USAGE, "no password given") from None


def sign_in(site: Site, username: str, store: TokenStore, *, remember: bool) -> Credentials:
    token = exchange_password(site, username, ask_password(site, username))
    if remember:
        store.put(site, username, token)
        note(f"token remembered in {store.path}")
    return Credentials(token, "password", username)


def credentials(args: argparse.Namespace, site: Site, store: TokenStore) -> Credentials:
    """The token to use, from the first source that has one."""
    if args.token:
        return Credentials(args.token.strip(), "option")
    if os.environ.get(TOKEN_ENV, "").strip():
        return Credentials(os.environ[TOKEN_ENV].strip(), "environment")
    if args.user:
        remembered = store.get(site, args.user)
        if remembered:
            return Credentials(remembered, "remembered", args.user)
        return sign_in(site, args.user, store, remember=args.remember)
    only = store.only_user(site)
    if only is not None:
        return Credentials(only[1], "remembered", only[0])
    raise Exit(
        ExitStatus.USAGE,
        f"no credentials: pass --token TOKEN, set ${TOKEN_ENV}, or --user NAME to sign in",
    )


def note(text: str) -> None:
    sys.stderr.write(f"chat: {text}\n")
    sys.stderr.flush()


class Client:
    """One run of the client; keeps its session so ``main`` can tell why it ended."""

    def __init__(self, args: argparse.Namespace, site: Site) -> None:
        self.args = args
        self.site = site
        self.session = None

    async def run(self, token: str) -> int:
        """Connect and run the mode the arguments and stdin ask for."""
        from chat.cli.session import RoomSession

        args = self.args
        interactive = sys.stdin.isatty() and not args.follow
        give_up = args.give_up_after
        if give_up is None and not interactive and not args.follow:
            give_up = SCRIPT_GIVE_UP_AFTER
        if interactive:
            from chat.cli.interactive import InteractiveView, run_interactive

            view = InteractiveView(args.room, base=self.site.base)
            self.session = RoomSession(
                site=self.site, slug=args.room, token=token, listener=view, give_up_after=give_up
            )
            return await run_interactive(self.session, view)

        from chat.cli.script import ScriptListener, run_script

        listener = ScriptListener(
            slug=args.room,
            follow=args.follow,
            print_first=args.since is not None,
            quiet=args.quiet,
            out=sys.stdout,
            err=sys.stderr,
        )
        self.session = RoomSession(
            site=self.site,
            slug=args.room,
            token=token,
            listener=listener,
            since=args.since,
            give_up_after=give_up,
        )
        return await run_script(self.session, listener, read_input=not sys.stdin.isatty())

    @property
    def pending(self) -> int:
        return self.session.pending if self.session is not None else 0

    @property
    def got_in(self) -> bool:
        return self.session is not None and self.session.readies > 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the client; return the exit status."""
    args = build_parser().parse_args(argv)
    client: Client | None = None
    try:
        site = Site.parse(args.url)
        if args.room is not None:
            check_slug(args.room)
        if args.since is not None and (args.since < 0 or not args.follow):
            raise Exit(ExitStatus.USAGE, "--since takes a seq (0 or more) and needs --follow")
        store = TokenStore()
        if not store.is_private():
            note(f"warning: {store.path} can be read by other users; run chmod 600 on it")
        creds = credentials(args, site, store)
        if args.dm is not None:
            args.room = open_dm(site, creds.token, args.dm)
        client = Client(args, site)
        for _ in range(2):
            try:
                return asyncio.run(client.run(creds.token))
            except Exit as exit_:
                stale = (
                    exit_.status == ExitStatus.NOT_AUTHENTICATED
                    and creds.source == "remembered"
                    and not client.got_in
                )
                if not stale:
                    raise
                # A remembered token that no longer works (revoked): forget it, ask again.
                store.forget(site, creds.username)
                note(f"the remembered token for {creds.username} was refused; signing in again")
                creds = sign_in(site, creds.username, store, remember=True)
                client = Client(args, site)
        raise Exit(ExitStatus.NOT_AUTHENTICATED, "the new token was refused too")
    except Exit as exit_:
        if exit_.message:
            note(exit_.message)
        return exit_.status
    except KeyboardInterrupt:
        pending = client.pending if client is not None else 0
        note("interrupted" + (f"; {pending} message(s) were not sent" if pending else ""))
        return ExitStatus.INTERRUPTED

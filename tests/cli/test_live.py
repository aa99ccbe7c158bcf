"""The terminal client against a real daphne process, as a user and a script would run it."""

from __future__ import annotations

import stat
import subprocess
import sys
import threading
from pathlib import Path

import pexpect
import pytest

from chat import services
from chat.models import ApiToken, Message
from tests.helpers.accounts import PASSWORD
from tests.helpers.processes import BASE_DIR, DaphneServer
from tests.helpers.wait import wait_until

pytestmark = [pytest.mark.processes, pytest.mark.django_db(transaction=True)]

SLUG = "general"


@pytest.fixture
def server_env(live_env):
    """The server's environment; tests add CHAT_* settings before the server starts."""
    return live_env | {"CHAT_RATE_LIMIT": ""}


@pytest.fixture
def server(server_env):
    with DaphneServer(server_env) as daphne:
        yield daphne


@pytest.fixture
def general(make_room, user):
    return make_room(SLUG, title="General", created_by=user)


@pytest.fixture
def cli_env(live_env, tmp_path):
    """The client's environment: no token in it, a private config file."""
    env = {k: v for k, v in live_env.items() if k not in ("CHAT_TOKEN", "CHAT_URL")}
    return env | {
        "CHAT_CONFIG": str(tmp_path / "tokens.json"),
        "PROMPT_TOOLKIT_NO_CPR": "1",
        "TERM": "xterm",
    }


def cli_argv(server: DaphneServer, *args: str) -> list[str]:
    return [sys.executable, "-m", "chat.cli", "--url", server.url, "--room", SLUG, *args]


def run_cli(
    server, env, *args: str, input: str | None = None, timeout: float = 30
) -> subprocess.CompletedProcess:
    return subprocess.run(
        cli_argv(server, *args),
        input=input,
        env=env,
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def spawn_cli(server, env, *args: str) -> pexpect.spawn:
    """The client in a pseudo-terminal, as a person runs it."""
    argv = cli_argv(server, *args)
    child = pexpect.spawn(
        argv[0],
        argv[1:],
        env=env,
        cwd=str(BASE_DIR),
        encoding="utf-8",
        timeout=10,
        dimensions=(40, 120),
    )
    return child


def stored(room) -> list[tuple[int, str, str | None]]:
    return list(
        Message.objects.filter(room=room).order_by("seq").values_list("seq", "body", "client_id")
    )


# --- scripting mode --------------------------------------------------------------


def test_script_lines_are_stored_once_each_in_order(server_env, general, user, cli_env):
    # A rate limit the lines exceed: the client waits it out and resends, in order.
    server_env |= {"CHAT_RATE_LIMIT": "10/1s", "CHAT_MAX_MESSAGE_LENGTH": "100"}
    token = services.issue_token(user=user)
    lines = [f"line {n} ünïcode" for n in range(1, 26)]

    with DaphneServer(server_env) as server:
        ok = run_cli(
            server,
            cli_env,
            f"--token={token}",
            input="\n".join(lines[:12]) + "\n\n" + "\n".join(lines[12:]) + "\n",
        )
        failed = run_cli(
            server, cli_env | {"CHAT_TOKEN": token}, input="fine\n" + "x" * 101 + "\nalso fine\n"
        )

    assert ok.returncode == 0, ok.stderr
    assert "25 message(s) sent to #general" in ok.stderr
    assert ok.stdout == ""
    rows = stored(general)
    assert [body for _, body, _ in rows[:25]] == lines
    assert [seq for seq, _, _ in rows] == list(range(1, 28))
    assert len({client_id for _, _, client_id in rows}) == 27
    assert all(client_id.startswith("cli-") for _, _, client_id in rows)

    assert failed.returncode == 1
    assert (
        "line 2 not sent (too_long): the message is 101 characters; the limit is 100"
        in failed.stderr
    )
    assert "1 of 3 messages were not sent" in failed.stderr
    assert [body for _, body, _ in rows[25:]] == ["fine", "also fine"]


def test_follow_prints_messages_as_json_lines(server, general, user, other_user, cli_env):
    services.post_message(room=general, author=other_user, body="before")
    follower = subprocess.Popen(
        cli_argv(server, f"--token={services.issue_token(user=user)}", "--follow", "--since", "0"),
        env=cli_env,
        cwd=BASE_DIR,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = follower.stdout.readline()
        sent = run_cli(
            server, cli_env, f"--token={services.issue_token(user=other_user)}", input="after\n"
        )
        second = follower.stdout.readline()
    finally:
        follower.kill()
        follower.communicate()  # reaps it and closes its pipes

    import json

    assert sent.returncode == 0, sent.stderr
    assert json.loads(first) | {"ts": None, "id": None} == {
        "type": "message",
        "id": None,
        "seq": 1,
        "room": SLUG,
        "user": "bob",
        "body": "before",
        "ts": None,
        "client_id": None,
    }
    assert json.loads(second)["body"] == "after" and json.loads(second)["seq"] == 2


def test_follow_prints_the_changes_made_while_it_reconnected(
    server, general, user, other_user, cli_env
):
    typo = services.post_message(room=general, author=other_user, body="typo").message
    doomed = services.post_message(room=general, author=other_user, body="doomed").message
    services.edit_message(message=typo, by=other_user, body="earlier edit")  # change 1
    follower = subprocess.Popen(
        cli_argv(server, f"--token={services.issue_token(user=user)}", "--follow", "--since", "0"),
        env=cli_env,
        cwd=BASE_DIR,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    import json

    try:
        before = [json.loads(follower.stdout.readline()) for _ in range(2)]
        server.stop()
        services.edit_message(message=typo, by=other_user, body="fixed")  # change 2
        services.delete_message(message=doomed, by=other_user, moderator=False)  # change 3
        server.start()
        after = [json.loads(follower.stdout.readline()) for _ in range(2)]
    finally:
        follower.kill()
        follower.communicate()  # reaps it and closes its pipes

    # The first connection showed the current state (change 1 applied) ...
    assert [(m["seq"], m["body"], "edited" in m) for m in before] == [
        (1, "earlier edit", True),
        (2, "doomed", False),
    ]
    # ... and the reconnect (since=2&changes=1) replayed exactly the later changes.
    assert after[0]["type"] == "update" and after[0]["change"] == 2
    assert after[0]["message"]["body"] == "fixed"
    assert after[1] == {"type": "deleted", "id": doomed.pk, "seq": 2, "change": 3}


# --- interactive mode ------------------------------------------------------------


def test_interactive_session_shows_history_and_live_messages(
    server_env, general, user, other_user, cli_env
):
    server_env |= {"CHAT_READY_HISTORY": "2"}
    for n in (1, 2, 3):
        services.post_message(room=general, author=other_user, body=f"seeded {n}")
    bob = services.issue_token(user=other_user)

    with DaphneServer(server_env) as server:
        alice = spawn_cli(server, cli_env, f"--token={services.issue_token(user=user)}")
        try:
            alice.expect_exact("#general (General) as alice; online (1): alice")
            alice.expect_exact("earlier messages: /history N")
            alice.expect(r"\d\d:\d\d bob: seeded 2")
            alice.expect(r"\d\d:\d\d bob: seeded 3")
            alice.expect_exact("/help lists commands")

            # Half a line typed when bob's message arrives: the input line keeps it.
            alice.send("half ")
            assert run_cli(server, cli_env, f"--token={bob}", input="hi from bob\n").returncode == 0
            alice.expect_exact("bob joined")
            alice.expect(r"\d\d:\d\d bob: hi from bob")
            alice.sendline("typed")
            alice.expect(r"\d\d:\d\d alice: half typed")

            alice.sendline("/history 5")
            alice.expect_exact("1 earlier message(s):")
            alice.expect(r"\d\d:\d\d bob: seeded 1")
            alice.expect_exact("that is the beginning of the room")
            alice.sendline("/who")
            alice.expect(r"online \(1\): alice")
            alice.sendline("/quit")
            alice.expect(pexpect.EOF)
        finally:
            alice.close(force=True)

    assert alice.exitstatus == 0
    assert [body for _, body, _ in stored(general)] == [
        "seeded 1",
        "seeded 2",
        "seeded 3",
        "hi from bob",
        "half typed",
    ]


# --- refusals --------------------------------------------------------------------


def test_wrong_password_fails_and_the_right_one_is_remembered(server, general, user, cli_env):
    wrong = spawn_cli(server, cli_env, "--user", "alice")
    wrong.expect_exact(f"Password for alice at {server.url}: ")
    wrong.sendline("not the password")
    wrong.expect_exact("chat: sign-in failed: wrong username or password")
    wrong.expect(pexpect.EOF)
    wrong.close()
    assert wrong.exitstatus == 3

    # stdin is a pipe (scripting mode); the password still comes from the terminal.
    command = " ".join(cli_argv(server, "--user", "alice", "--remember"))
    right = pexpect.spawn(
        "/bin/sh",
        ["-c", f"echo 'signed in' | {command}"],
        env=cli_env,
        cwd=str(BASE_DIR),
        encoding="utf-8",
        timeout=10,
    )
    right.expect_exact("Password for alice")
    right.sendline(PASSWORD)
    right.expect(pexpect.EOF)
    right.close()
    assert right.exitstatus == 0, right.before

    config = Path(cli_env["CHAT_CONFIG"])
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert '"alice"' in config.read_text()
    # The remembered token works without a prompt (no terminal needed).
    again = run_cli(server, cli_env, "--user", "alice", input="no prompt\n")
    assert again.returncode == 0, again.stderr
    assert [body for _, body, _ in stored(general)] == ["signed in", "no prompt"]


def test_revoked_token_ends_the_client_with_a_clear_error(server, general, user, cli_env, tmp_path):
    token = services.issue_token(user=user)
    errors = tmp_path / "stderr.txt"
    with open(errors, "w") as err:
        follower = subprocess.Popen(
            cli_argv(server, f"--token={token}", "--follow"),
            env=cli_env,
            cwd=BASE_DIR,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    try:
        wait_until(
            lambda: "connected to #general" in errors.read_text(), 10, "the client to connect"
        )
        # From this (another) process, as `manage.py chat_token --revoke` would.
        services.revoke_tokens(tokens=ApiToken.objects.filter(user=user))
        status = follower.wait(timeout=5)
    finally:
        follower.kill()
        follower.wait()

    assert status == 3
    assert (
        "4401 not signed in, or the token was revoked: your API token was revoked"
        in errors.read_text()
    )

    refused = run_cli(server, cli_env, f"--token={token}", input="never stored\n")
    assert refused.returncode == 3
    assert "invalid or revoked token" in refused.stderr
    assert "1 message(s) were not sent" in refused.stderr
    assert stored(general) == []


# --- restarts --------------------------------------------------------------------


def test_a_server_restart_mid_session_loses_nothing(server_env, general, user, cli_env, tmp_path):
    # Slow enough (rate limited) that the kill lands while lines are in flight.
    server_env |= {"CHAT_RATE_LIMIT": "20/1s"}
    lines = [f"message {n}" for n in range(1, 61)]
    errors = tmp_path / "stderr.txt"
    restarted = threading.Event()

    with DaphneServer(server_env) as server, open(errors, "w") as err:
        client = subprocess.Popen(
            cli_argv(server, f"--token={services.issue_token(user=user)}"),
            env=cli_env,
            cwd=BASE_DIR,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=err,
            text=True,
        )

        def feed() -> None:
            for n, line in enumerate(lines):
                if n == 40:
                    restarted.wait(20)
                client.stdin.write(line + "\n")
                client.stdin.flush()
            client.stdin.close()

        writer = threading.Thread(target=feed, daemon=True)
        writer.start()
        try:
            wait_until(
                lambda: Message.objects.filter(room=general).count() >= 10,
                15,
                "ten stored messages",
            )
            server.kill()  # SIGKILL: a message may be committed without its ack going out
            server.start()
            restarted.set()
            status = client.wait(timeout=30)
        finally:
            client.kill()
            writer.join(5)

    log = errors.read_text()
    assert status == 0, log
    assert [body for _, body, _ in stored(general)] == lines
    assert "reconnecting in" in log and "reconnected to #general" in log
    assert "60 message(s) sent" in log

"""``--dm USER``: the arguments, and against a real daphne process, opening a DM by
name with a token and sending to it from a script."""

from __future__ import annotations

import subprocess
import sys

import pytest

from chat import direct, services
from chat.cli.main import build_parser
from chat.models import Message, Room
from tests.helpers.processes import BASE_DIR, DaphneServer


def test_dm_takes_the_place_of_room(capsys):
    parse = build_parser().parse_args
    args = parse(["--url", "http://x", "--dm", "bob"])
    assert (args.dm, args.room) == ("bob", None)
    for argv in (["--url", "http://x"], ["--url", "http://x", "--room", "r", "--dm", "bob"]):
        with pytest.raises(SystemExit) as caught:
            parse(argv)
        assert caught.value.code == 2
    assert "--dm" in capsys.readouterr().err


def run_dm(server, env, *args: str, input: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "chat.cli", "--url", server.url, *args],
        input=input,
        env=env,
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.mark.processes
@pytest.mark.django_db(transaction=True)
def test_a_script_opens_the_dm_and_sends_to_it(live_env, user, other_user, make_user, tmp_path):
    env = {k: v for k, v in live_env.items() if k not in ("CHAT_TOKEN", "CHAT_URL")}
    env |= {"CHAT_CONFIG": str(tmp_path / "tokens.json"), "CHAT_RATE_LIMIT": ""}
    token = services.issue_token(user=user)
    carol = make_user("carol")
    direct.block_user(by=carol, user=user)

    with DaphneServer(env) as server:
        sent = run_dm(server, env, "--dm", "bob", f"--token={token}", input="hi bob\n")
        blocked = run_dm(server, env, "--dm", "carol", f"--token={token}", input="hi\n")
        unknown = run_dm(server, env, "--dm", "nobody", f"--token={token}", input="hi\n")

    assert sent.returncode == 0, sent.stderr
    room = Room.objects.get(slug=direct.pair_slug(user, other_user))
    assert list(Message.objects.filter(room=room).values_list("body", flat=True)) == ["hi bob"]
    assert blocked.returncode == 4
    assert "cannot message carol: carol does not take direct messages from you" in blocked.stderr
    assert unknown.returncode == 4 and "nobody" in unknown.stderr
    assert Room.objects.filter(kind=Room.Kind.DM).count() == 1

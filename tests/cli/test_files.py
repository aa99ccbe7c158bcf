"""The terminal client prints a message's files as links, absolute on the site's URL."""

from datetime import UTC, datetime

from chat.cli import render
from chat.cli.interactive import InteractiveView

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
FILES = [
    {
        "id": 7,
        "name": "pic.png",
        "size": 12700,
        "type": "image/png",
        "url": "/chat/files/7/pic.png",
    },
    {"id": 8, "name": "a\x1b[2Jb.txt", "size": 12, "type": "text/plain", "url": "/chat/files/8/x"},
]


def message(body: str) -> dict:
    return {"id": 1, "seq": 1, "user": "bob", "body": body, "ts": NOW.isoformat(), "files": FILES}


def test_files_are_link_lines_under_the_body():
    line = render.message_line(message("look"), today=NOW, base="https://chat.example/chat")
    head, first, second = line.split("\n")
    assert head.endswith("bob: look")
    assert first.strip() == "[file] pic.png (12.4 KB) https://chat.example/chat/files/7/pic.png"
    # The name is someone else's text: control sequences are shown, not obeyed.
    assert second.strip() == "[file] a\\x1b[2Jb.txt (12 B) https://chat.example/chat/files/8/x"


def test_files_alone_start_beside_the_name():
    line = render.message_line(message(""), today=NOW, base="http://127.0.0.1:8000")
    assert line.split("\n")[0].endswith(
        "bob: [file] pic.png (12.4 KB) http://127.0.0.1:8000/chat/files/7/pic.png"
    )


def test_the_interactive_view_links_on_its_site(capsys):
    view = InteractiveView("lobby", base="http://127.0.0.1:8000")
    view.message(message("hi"))
    assert "http://127.0.0.1:8000/chat/files/7/pic.png" in capsys.readouterr().out


def test_size_text():
    assert [render.size_text(n) for n in (5, 2048, 3 * 1024 * 1024, "x")] == [
        "5 B",
        "2.0 KB",
        "3.0 MB",
        "?",
    ]

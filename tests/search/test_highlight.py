"""Snippets become [(text, highlighted)] segments; bodies with marker characters stay safe."""

from chat.search.highlight import START, STOP, segments, split_marked
from chat.search.query import parse


def test_split_marked():
    marked = f"…the {START}deploy{STOP} went {START}fine{STOP}"
    assert split_marked(marked) == [
        ("…the ", False),
        ("deploy", True),
        (" went ", False),
        ("fine", True),
    ]


def test_adjacent_marks_merge():
    assert split_marked(f"{START}release{STOP} {START}notes{STOP}") == [
        ("release", True),
        (" ", False),
        ("notes", True),
    ]


def test_a_body_with_marker_characters_is_cut_from_the_body():
    body = f"fake {START}mark{STOP} and a deploy here"
    # What a database would return for it: ambiguous, so it is not trusted.
    result = segments(
        f"fake {START}mark{STOP} and a {START}deploy{STOP} here", body, parse("deploy")
    )
    assert ("deploy", True) in result
    assert ("mark", True) not in result
    assert all(START not in text and STOP not in text for text, _ in result)


def test_fallback_cuts_long_bodies_around_the_first_match():
    body = "word " * 100 + "needle" + " word" * 100
    result = segments(None, body, parse("needle"))
    assert result[0][0].startswith("…")
    assert result[-1][0].endswith("…")
    assert ("needle", True) in result

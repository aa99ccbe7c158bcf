"""The search box's language: what parses, what is refused, and what each database gets."""

import pytest

from chat.search.query import MAX_QUERY_LENGTH, Query, QueryError, parse, to_fts5, to_tsquery


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("deploy", Query(((("deploy",),),))),
        ("Deploy FRIDAY", Query(((("deploy",),), (("friday",),)))),
        ('"release notes"', Query(((("release", "notes"),),))),
        ("deploy OR rollback", Query(((("deploy",), ("rollback",)),))),
        ("deploy -staging", Query(((("deploy",),),), (("staging",),))),
        ('deploy -"dry run"', Query(((("deploy",),),), (("dry", "run"),))),
        ("don't", Query(((("don", "t"),),))),
        ('"unclosed phrase', Query(((("unclosed", "phrase"),),))),
        ("OR deploy", Query(((("deploy",),),))),
        ("deploy OR", Query(((("deploy",),),))),
        ("café NEAR(x) AND * ^ :", Query(((("café",),), (("near", "x"),), (("and",),)))),
    ],
)
def test_parse(text, expected):
    assert parse(text) == expected


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "type something"),
        ("   ", "type something"),
        ("!!! *** ()", "nothing to search for"),
        ("-only -negated", "nothing to search for"),
        ("x" * (MAX_QUERY_LENGTH + 1), "too long"),
        (" ".join(["w"] * 17), "too many words"),
    ],
)
def test_refused(text, why):
    with pytest.raises(QueryError, match=why):
        parse(text)


def test_fts5_expression_quotes_every_phrase():
    query = parse('deploy OR "roll back" friday -staging')
    assert to_fts5(query) == '(("deploy" OR "roll back") AND "friday") NOT "staging"'


def test_tsquery_passes_every_phrase_as_a_parameter():
    sql, params = to_tsquery(parse('deploy OR "roll back" -staging'))
    assert params == ["deploy", "roll back", "staging"]
    assert "deploy" not in sql
    assert sql.count("%s") == 3

"""``manage.py chat_token``: one new token per user per line, --create, --revoke."""

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from chat import services
from chat.models import ApiToken, ModerationAction

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def chat_token(*args: str) -> list[str]:
    out, err = StringIO(), StringIO()
    call_command("chat_token", *args, stdout=out, stderr=err)
    return out.getvalue().splitlines()


def test_prints_one_working_token_per_user_in_order(user, other_user):
    lines = chat_token("bob", "alice")

    assert len(lines) == 2
    assert services.user_for_token(lines[0]) == other_user
    assert services.user_for_token(lines[1]) == user


def test_stores_only_a_hash_of_the_token(user):
    (key,) = chat_token("alice")

    token = ApiToken.objects.get(user=user)
    assert token.key_hash == services.hash_token(key) != key
    assert key.startswith(token.prefix) and len(token.prefix) < len(key)
    stored = list(
        ApiToken.objects.values_list(*(f.attname for f in ApiToken._meta.concrete_fields))
    )
    assert key not in repr(stored)


def test_each_call_issues_a_new_token(user):
    first, second = chat_token("alice")[0], chat_token("alice")[0]

    assert first != second
    assert ApiToken.objects.filter(user=user).count() == 2


def test_unknown_users_are_an_error_and_nothing_is_issued(user):
    with pytest.raises(CommandError, match="no such user: ghost, spook.*--create"):
        chat_token("alice", "ghost", "spook")

    assert not ApiToken.objects.exists()


def test_create_makes_missing_users_without_a_usable_password(user):
    lines = chat_token("alice", "bot-1", "--create")

    bot = get_user_model().objects.get(username="bot-1")
    assert not bot.has_usable_password()
    assert services.user_for_token(lines[1]) == bot
    assert services.user_for_token(lines[0]) == user


def test_create_rejects_an_invalid_username():
    with pytest.raises(CommandError, match="invalid username"):
        chat_token("no spaces please", "--create")

    assert not get_user_model().objects.exists()


def test_create_a_thousand_users_in_bulk(django_assert_max_num_queries):
    names = [f"load-{n:04d}" for n in range(1000)]

    # Batched inserts (SQLite binds at most 999 parameters per query), not ~2 per user.
    with django_assert_max_num_queries(50):
        lines = chat_token("--create", *names)

    assert len(lines) == len(set(lines)) == 1000
    assert get_user_model().objects.filter(username__startswith="load-").count() == 1000
    assert services.user_for_token(lines[-1]).username == "load-0999"


def test_revoke_revokes_every_token_of_the_user_and_audits_it(user, other_user):
    alice_keys = chat_token("alice") + chat_token("alice")
    (bob_key,) = chat_token("bob")

    lines = chat_token("alice", "--revoke")

    assert lines == ["alice: 2 token(s) revoked"]
    assert all(services.user_for_token(key) is None for key in alice_keys)
    assert services.user_for_token(bob_key) == other_user
    assert user.chat_tokens.filter(revoked_at__isnull=False).count() == 2
    assert ModerationAction.objects.filter(kind="token", target_user=user).count() == 2


def test_create_and_revoke_together_is_an_error(user):
    with pytest.raises(CommandError):
        chat_token("alice", "--create", "--revoke")

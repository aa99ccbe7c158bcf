"""chat.membership: members, moderators, leaving and invite links, as services.

Every refusal stores nothing (no membership, no audit entry, no use of a link);
every change is in the audit trail; losing access closes the user's connections
(a 4403 close event, after commit).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import signing
from django.utils import timezone

from chat import membership, services
from chat.models import Ban, Invite, ModerationAction
from chat.wire.errors import ChatError, CloseCode

pytestmark = pytest.mark.django_db


@pytest.fixture
def private(user):
    """``secret``, a private room alice created (so she moderates it)."""
    return services.create_room(slug="secret", title="Secret", by=user, is_private=True)


@pytest.fixture
def carol(make_user):
    return make_user("carol")


@pytest.fixture
def published(monkeypatch):
    """The events published after commit, as (kind, user) pairs."""
    events = []
    monkeypatch.setattr(
        "chat.membership.publish_on_commit",
        lambda *outs: events.extend((o.event["kind"], o.event.get("user"), o) for o in outs),
    )
    return events


def kinds() -> list[str]:
    return list(ModerationAction.objects.order_by("id").values_list("kind", flat=True))


def test_creating_a_private_room_makes_the_creator_member_and_moderator(private, user):
    assert private.members.filter(pk=user.pk).exists()
    assert private.moderators.filter(pk=user.pk).exists()
    assert membership.can_manage_members(room=private, user=user)


def test_a_moderator_adds_a_member_and_the_audit_trail_says_who(private, user, other_user):
    assert membership.add_member(room=private, user=other_user, by=user) is True
    assert private.members.filter(pk=other_user.pk).exists()
    action = ModerationAction.objects.get(kind="add")
    assert (action.actor, action.target_user, action.room) == (user, other_user, private)
    assert membership.add_member(room=private, user=other_user, by=user) is False
    assert kinds() == ["add"]


def test_inviting_into_a_room_you_do_not_moderate_is_refused_and_stores_nothing(
    private, user, other_user, carol
):
    membership.add_member(room=private, user=other_user, by=user)
    with pytest.raises(ChatError) as refused:
        membership.add_member(room=private, user=carol, by=other_user)
    assert refused.value.code == "forbidden"
    assert "only moderators" in refused.value.detail
    assert not private.members.filter(pk=carol.pk).exists()
    with pytest.raises(ChatError):
        membership.create_invite(room=private, by=other_user)
    assert not Invite.objects.exists()
    assert kinds() == ["add"]


def test_a_public_room_has_no_members_to_invite(make_room, user, other_user):
    public = services.create_room(slug="open", title="Open", by=user)
    with pytest.raises(ChatError, match="public"):
        membership.add_member(room=public, user=other_user, by=user)
    with pytest.raises(ChatError, match="public"):
        membership.create_invite(room=public, by=user)
    assert not public.members.exists() and not Invite.objects.exists()


def test_a_banned_user_cannot_be_added(private, user, other_user):
    services.ban_user(room=private, user=other_user, by=user)
    with pytest.raises(ChatError, match="banned"):
        membership.add_member(room=private, user=other_user, by=user)
    assert not private.members.filter(pk=other_user.pk).exists()


def test_removing_a_member_closes_their_connections_with_4403(
    private, user, other_user, published, django_capture_on_commit_callbacks
):
    membership.add_member(room=private, user=other_user, by=user)
    membership.set_moderator(room=private, user=other_user, by=user)
    assert membership.remove_member(room=private, user=other_user, by=user, reason="bye")
    assert not private.members.filter(pk=other_user.pk).exists()
    assert not private.moderators.filter(pk=other_user.pk).exists()
    [(kind, target, out)] = published
    assert (kind, target, out.event["code"]) == ("close", other_user.pk, CloseCode.FORBIDDEN)
    assert "removed" in out.event["text"]
    action = ModerationAction.objects.get(kind="remove")
    assert (action.actor, action.target_user, action.reason) == (user, other_user, "bye")
    assert membership.remove_member(room=private, user=other_user, by=user) is False
    assert len(published) == 1


def test_removing_needs_a_moderator_and_not_yourself(private, user, other_user, published):
    membership.add_member(room=private, user=other_user, by=user)
    with pytest.raises(ChatError, match="only moderators"):
        membership.remove_member(room=private, user=user, by=other_user)
    with pytest.raises(ChatError, match="leave"):
        membership.remove_member(room=private, user=user, by=user)
    assert private.members.filter(pk=user.pk).exists() and not published


def test_passing_on_moderation(private, user, other_user):
    membership.add_member(room=private, user=other_user, by=user)
    assert membership.set_moderator(room=private, user=other_user, by=user) is True
    assert private.moderators.filter(pk=other_user.pk).exists()
    assert membership.set_moderator(room=private, user=other_user, by=user) is False
    # The new moderator may take the role back from the first one.
    assert membership.set_moderator(room=private, user=user, by=other_user, moderator=False)
    assert not private.moderators.filter(pk=user.pk).exists()
    assert private.members.filter(pk=user.pk).exists()
    with pytest.raises(ChatError, match="at least one moderator"):
        membership.set_moderator(room=private, user=other_user, by=other_user, moderator=False)
    assert kinds() == ["add", "promote", "demote"]


def test_a_member_leaves_and_their_pages_close(private, user, other_user, published):
    membership.add_member(room=private, user=other_user, by=user)
    assert membership.leave_room(room=private, user=other_user) is True
    assert not private.members.filter(pk=other_user.pk).exists()
    assert [(k, u) for k, u, _ in published] == [("close", other_user.pk)]
    assert ModerationAction.objects.get(kind="leave").actor == other_user
    assert membership.leave_room(room=private, user=other_user) is False


def test_the_last_moderator_cannot_leave_while_members_remain(private, user, other_user):
    membership.add_member(room=private, user=other_user, by=user)
    with pytest.raises(ChatError, match="only moderator"):
        membership.leave_room(room=private, user=user)
    assert private.moderators.filter(pk=user.pk).exists()
    membership.set_moderator(room=private, user=other_user, by=user)
    assert membership.leave_room(room=private, user=user) is True
    assert not private.members.filter(pk=user.pk).exists()


def test_the_last_person_may_leave(private, user):
    assert membership.leave_room(room=private, user=user) is True
    assert not private.members.exists() and not private.moderators.exists()


# --- invite links ---------------------------------------------------------------


def test_a_single_use_link_lets_one_person_in(private, user, other_user, carol):
    invite = membership.create_invite(room=private, by=user, max_uses=1)
    token = membership.invite_token(invite)
    assert membership.accept_invite(token=token, user=other_user) == private
    assert private.members.filter(pk=other_user.pk).exists()
    # Coming back through the same link changes nothing and uses nothing.
    assert membership.accept_invite(token=token, user=other_user) == private
    invite.refresh_from_db()
    assert invite.uses == 1
    with pytest.raises(ChatError, match="used up"):
        membership.accept_invite(token=token, user=carol)
    assert not private.members.filter(pk=carol.pk).exists()
    join = ModerationAction.objects.get(kind="join")
    assert (join.actor, join.details["invite"], join.details["invited_by"]) == (
        other_user,
        invite.pk,
        user.pk,
    )


def test_a_multi_use_link_lets_many_in(private, user, other_user, carol):
    token = membership.invite_token(membership.create_invite(room=private, by=user, max_uses=None))
    membership.accept_invite(token=token, user=other_user)
    membership.accept_invite(token=token, user=carol)
    assert set(private.members.values_list("username", flat=True)) == {"alice", "bob", "carol"}


@pytest.mark.parametrize("how", ["revoked", "expired"])
def test_an_expired_or_revoked_link_is_refused_and_stores_nothing(how, private, user, other_user):
    invite = membership.create_invite(room=private, by=user)
    if how == "revoked":
        assert membership.revoke_invite(invite=invite, by=user) is True
        assert membership.revoke_invite(invite=invite, by=user) is False
    else:
        Invite.objects.filter(pk=invite.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    before = kinds()
    with pytest.raises(ChatError, match=how):
        membership.accept_invite(token=membership.invite_token(invite), user=other_user)
    assert not private.members.filter(pk=other_user.pk).exists()
    assert kinds() == before
    invite.refresh_from_db()
    assert invite.uses == 0


@pytest.mark.parametrize(
    "token",
    [
        "nonsense",
        signing.dumps(1, salt="chat.other"),  # a signature made for something else
        signing.dumps("1", salt=membership.INVITE_SALT),  # not an id
        signing.dumps(999999, salt=membership.INVITE_SALT),  # no such invite
    ],
    # Fixed ids: a signed value embeds the time, and pytest-xdist workers must
    # collect the same test names.
    ids=["nonsense", "other-salt", "not-an-id", "no-such-invite"],
)
def test_a_forged_or_unknown_link_is_not_found(token, private, other_user):
    membership.create_invite(room=private, by=private.created_by)
    with pytest.raises(ChatError) as refused:
        membership.accept_invite(token=token, user=other_user)
    assert refused.value.code == "not_found"
    assert not private.members.filter(pk=other_user.pk).exists()


def test_a_tampered_link_is_not_found(private, user, other_user):
    invite = membership.create_invite(room=private, by=user)
    token = membership.invite_token(invite)
    value, signature = token.split(":", 1)
    other = signing.dumps(invite.pk + 1, salt=membership.INVITE_SALT).split(":", 1)[0]
    with pytest.raises(ChatError, match="not valid"):
        membership.accept_invite(token=f"{other}:{signature}", user=other_user)
    assert value != other


def test_banned_users_cannot_join_by_link(private, user, other_user):
    token = membership.invite_token(membership.create_invite(room=private, by=user))
    Ban.objects.create(room=private, user=other_user, created_by=user)
    with pytest.raises(ChatError, match="banned"):
        membership.accept_invite(token=token, user=other_user)
    assert not private.members.filter(pk=other_user.pk).exists()


def test_open_invites_leave_out_ended_links(private, user):
    kept = membership.create_invite(room=private, by=user, max_uses=None)
    membership.revoke_invite(invite=membership.create_invite(room=private, by=user), by=user)
    used = membership.create_invite(room=private, by=user, max_uses=1)
    Invite.objects.filter(pk=used.pk).update(uses=1)
    assert membership.open_invites(private) == [kept]


def test_bad_invite_settings_are_refused(private, user):
    with pytest.raises(ChatError):
        membership.create_invite(room=private, by=user, max_uses=0)
    with pytest.raises(ChatError):
        membership.create_invite(room=private, by=user, expires_in=timedelta(0))
    assert not Invite.objects.exists()


def test_members_of_lists_moderators_first(private, user, other_user, carol):
    membership.add_member(room=private, user=carol, by=user)
    membership.add_member(room=private, user=other_user, by=user)
    assert membership.members_of(private) == [
        membership.Member("alice", True),
        membership.Member("bob", False),
        membership.Member("carol", False),
    ]


def test_user_named_gives_a_clear_error(db):
    with pytest.raises(ChatError, match="no user called “nobody”"):
        membership.user_named("nobody")

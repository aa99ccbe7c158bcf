"""Who belongs to a private room: members, moderators, invites by name and by link.

The one place that decides who may change a room's membership. The room page's
views, the admin and the shell all call these functions; each checks its ``by``
(unlike the moderation services, which trust their caller), stores nothing on a
refusal (``ChatError``), records every change in the audit trail and, when someone
loses access, closes their open connections to the room with 4403 on every process
after commit (the ban's close path).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core import signing
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from chat import selectors, services
from chat.events import outbound
from chat.events.publisher import publish_on_commit
from chat.models import Invite, ModerationAction, Room
from chat.wire.errors import ChatError, CloseCode, ErrorCode

logger = logging.getLogger(__name__)

User = AbstractBaseUser

# Signing salt of invite links: a signature made for anything else never passes here.
INVITE_SALT = "chat.invite"
# How long a link may live, as the room page offers it (seconds, label). One list for
# the page, the view's validation and the admin.
INVITE_EXPIRY_CHOICES = (
    (60 * 60, "1 hour"),
    (24 * 60 * 60, "1 day"),
    (7 * 24 * 60 * 60, "7 days"),
)
# How many people a link lets in: once, or any number until it expires.
INVITE_USES_CHOICES = ((1, "one person"), (None, "any number of people"))


# --- who may -----------------------------------------------------------------------


def can_manage_members(*, room: Room, user: User) -> bool:
    """Whether ``user`` may invite, remove and make moderators in ``room``: its
    moderators, staff who moderate every room, and staff who may change rooms."""
    if not user.is_authenticated:
        return False
    if user.is_staff and user.has_perm("chat.change_room"):
        return True
    return selectors.is_moderator(room=room, user=user)


def require_manager(*, room: Room, by: User) -> None:
    """``ChatError`` ``forbidden`` unless ``by`` may manage ``room``'s members."""
    if not can_manage_members(room=room, user=by):
        raise ChatError(ErrorCode.FORBIDDEN, "only moderators of this room can do that")


def _require_private(room: Room) -> None:
    if not room.is_private:
        raise ChatError(ErrorCode.BAD_REQUEST, "this room is public: anyone signed in can enter it")
    if room.is_archived:
        raise ChatError(ErrorCode.FORBIDDEN, "the room is archived")


def _locked_room(room: Room) -> Room:
    # Membership changes of one room queue behind each other (last-moderator rule).
    return Room.objects.select_for_update().get(pk=room.pk)


def _close(room: Room, user: User, detail: str) -> None:
    publish_on_commit(outbound.close_event(room.pk, CloseCode.FORBIDDEN, detail, user_id=user.pk))


def user_named(username: str) -> User:
    """The user called ``username`` (exactly), or ``ChatError`` ``not_found``."""
    users = get_user_model()
    user = users.objects.filter(**{users.USERNAME_FIELD: username.strip()}).first()
    if user is None or not user.is_active:
        raise ChatError(ErrorCode.NOT_FOUND, f"there is no user called “{username.strip()}”")
    return user


# --- members -----------------------------------------------------------------------


@transaction.atomic
def add_member(*, room: Room, user: User, by: User) -> bool:
    """Make ``user`` a member of the private ``room`` (``by`` manages its members).

    Returns False when they already were (nothing recorded). Refuses (``ChatError``)
    a public or archived room, a ``by`` who does not moderate it, and a user banned
    from it (lift the ban first).
    """
    _require_private(room)
    require_manager(room=room, by=by)
    room = _locked_room(room)
    if selectors.active_ban(room=room, user=user) is not None:
        raise ChatError(
            ErrorCode.FORBIDDEN,
            f"{user.get_username()} is banned from this room; lift the ban first",
        )
    if room.members.filter(pk=user.pk).exists():
        return False
    room.members.add(user)
    services.audit(kind=ModerationAction.Kind.ADD_MEMBER, by=by, room=room, target_user=user)
    return True


@transaction.atomic
def remove_member(*, room: Room, user: User, by: User, reason: str = "") -> bool:
    """Take ``user`` out of the private ``room``: no longer a member nor a moderator.

    Their open connections to the room close with 4403 on every process, after
    commit. Returns False when they were neither (nothing recorded, nobody closed).
    Removing yourself is leaving (``leave_room``), refused here.
    """
    _require_private(room)
    require_manager(room=room, by=by)
    if user.pk == by.pk:
        raise ChatError(ErrorCode.BAD_REQUEST, "to remove yourself, leave the room")
    room = _locked_room(room)
    if not _drop(room, user):
        return False
    services.audit(
        kind=ModerationAction.Kind.REMOVE_MEMBER, by=by, room=room, target_user=user, reason=reason
    )
    _close(room, user, "you were removed from this room")
    return True


def _drop(room: Room, user: User) -> bool:
    """Remove ``user`` from the members and moderators of ``room``; whether they were."""
    was_member = room.members.filter(pk=user.pk).exists()
    was_moderator = room.moderators.filter(pk=user.pk).exists()
    room.members.remove(user)
    room.moderators.remove(user)
    return was_member or was_moderator


@transaction.atomic
def leave_room(*, room: Room, user: User) -> bool:
    """``user`` leaves the private ``room``; their open pages of it close (4403).

    The last moderator cannot leave while other members remain: they make someone
    else a moderator first, so that a room is never left without anyone who can
    invite or remove (staff can still, from the admin). Returns False when they
    were not a member (nothing recorded).
    """
    _require_private(room)
    room = _locked_room(room)
    moderators = set(room.moderators.values_list("pk", flat=True))
    others = room.members.exclude(pk=user.pk).exists()
    if moderators == {user.pk} and others:
        raise ChatError(
            ErrorCode.FORBIDDEN,
            "you are this room's only moderator: make another member a moderator first",
        )
    if not _drop(room, user):
        return False
    services.audit(kind=ModerationAction.Kind.LEAVE, by=user, room=room, target_user=user)
    _close(room, user, "you left this room")
    return True


@transaction.atomic
def set_moderator(*, room: Room, user: User, by: User, moderator: bool = True) -> bool:
    """Make ``user`` a moderator of ``room`` (a member too, in a private room), or,
    with ``moderator=False``, stop them moderating (they stay a member).

    Returns False when nothing changed. In a private room only members (or people
    ``by`` could add) become moderators; a banned user cannot. Taking the role from
    the room's last moderator is refused, as leaving is.
    """
    require_manager(room=room, by=by)
    room = _locked_room(room)
    is_moderator = room.moderators.filter(pk=user.pk).exists()
    if is_moderator == moderator:
        return False
    if moderator:
        if selectors.active_ban(room=room, user=user) is not None:
            raise ChatError(ErrorCode.FORBIDDEN, f"{user.get_username()} is banned from this room")
        room.moderators.add(user)
        if room.is_private:
            room.members.add(user)
        kind = ModerationAction.Kind.PROMOTE
    else:
        if set(room.moderators.values_list("pk", flat=True)) == {user.pk}:
            raise ChatError(
                ErrorCode.FORBIDDEN, "a room keeps at least one moderator: make another first"
            )
        room.moderators.remove(user)
        kind = ModerationAction.Kind.DEMOTE
    services.audit(kind=kind, by=by, room=room, target_user=user)
    return True


@dataclass(frozen=True, slots=True)
class Member:
    """One member of a room as the members panel lists it."""

    username: str
    moderator: bool


def members_of(room: Room) -> list[Member]:
    """The room's members and moderators, moderators first, then by name: one query each."""
    users = get_user_model()
    moderators = set(room.moderators.values_list("pk", flat=True))
    people = users.objects.filter(
        pk__in=moderators | set(room.members.values_list("pk", flat=True))
    )
    found = [Member(u.get_username(), u.pk in moderators) for u in people]
    return sorted(found, key=lambda m: (not m.moderator, m.username.lower()))


# --- invite links ------------------------------------------------------------------


def invite_token(invite: Invite) -> str:
    """The signed token of ``invite``'s link (its id, signed with ``SECRET_KEY``)."""
    return signing.dumps(invite.pk, salt=INVITE_SALT, compress=False)


def _invite_for_token(token: str) -> Invite:
    try:
        invite_id = signing.loads(token, salt=INVITE_SALT)
    except signing.BadSignature:
        raise ChatError(ErrorCode.NOT_FOUND, "This invite link is not valid.") from None
    invite = None
    if isinstance(invite_id, int):
        invite = Invite.objects.select_related("room").filter(pk=invite_id).first()
    if invite is None:
        raise ChatError(ErrorCode.NOT_FOUND, "This invite link is not valid.")
    return invite


def _check_usable(invite: Invite) -> Invite:
    refusal = invite.refusal()
    if refusal is None and invite.room.is_archived:
        refusal = "This room was archived."
    if refusal is not None:
        raise ChatError(ErrorCode.FORBIDDEN, refusal)
    return invite


def _belongs(room: Room, user: User) -> bool:
    return room.members.filter(pk=user.pk).exists() or room.moderators.filter(pk=user.pk).exists()


def invite_for(*, token: str, user: User) -> tuple[Invite, bool]:
    """The invite of the link ``token`` and whether ``user`` already belongs to its
    room (then any link of the room, even an ended one, just leads there).

    Otherwise the link must still let people in: ``ChatError`` ``not_found``
    (forged, mistyped, or its room deleted) or ``forbidden`` (revoked, expired, used
    up, or the room archived).
    """
    invite = _invite_for_token(token)
    if user.is_authenticated and _belongs(invite.room, user):
        return invite, True
    return _check_usable(invite), False


@transaction.atomic
def create_invite(
    *, room: Room, by: User, max_uses: int | None = 1, expires_in: timedelta = timedelta(days=1)
) -> Invite:
    """A new invite link to the private ``room`` (``by`` manages its members).

    ``max_uses``: how many people it lets in (None: any number until it expires).
    The link is ``invite_token(invite)``; only the id is stored.
    """
    _require_private(room)
    require_manager(room=room, by=by)
    if max_uses is not None and max_uses < 1:
        raise ChatError(ErrorCode.BAD_REQUEST, "an invite lets at least one person in")
    if expires_in <= timedelta(0):
        raise ChatError(ErrorCode.BAD_REQUEST, "an invite must expire in the future")
    invite = Invite.objects.create(
        room=room, created_by=by, max_uses=max_uses, expires_at=timezone.now() + expires_in
    )
    services.audit(
        kind=ModerationAction.Kind.INVITE,
        by=by,
        room=room,
        invite=invite.pk,
        max_uses=max_uses,
        expires_at=invite.expires_at.isoformat(),
    )
    return invite


@transaction.atomic
def revoke_invite(*, invite: Invite, by: User) -> bool:
    """End ``invite`` now; returns False when it already was revoked (nothing recorded).

    People who joined through it stay members (remove them one by one).
    """
    require_manager(room=invite.room, by=by)
    invite = Invite.objects.select_for_update().select_related("room").get(pk=invite.pk)
    if invite.revoked_at is not None:
        return False
    invite.revoked_at = timezone.now()
    invite.revoked_by = by
    invite.save(update_fields=["revoked_at", "revoked_by"])
    services.audit(kind=ModerationAction.Kind.UNINVITE, by=by, room=invite.room, invite=invite.pk)
    return True


def open_invites(room: Room) -> list[Invite]:
    """The room's links that still let people in, newest first."""
    now = timezone.now()
    return [
        invite
        for invite in Invite.objects.filter(room=room, revoked_at__isnull=True, expires_at__gt=now)
        if invite.refusal(now) is None
    ]


@transaction.atomic
def accept_invite(*, token: str, user: User) -> Room:
    """``user`` joins the room of the invite link ``token``; returns the room.

    Someone who is already a member (or a moderator) just gets the room back, and the
    link's use is not counted. Refuses (``ChatError``, nothing stored) a forged or
    unknown link, a revoked, expired or used-up one, and a user banned from the room.
    """
    if not user.is_authenticated:
        raise ChatError(ErrorCode.FORBIDDEN, "sign in first")
    invite = _invite_for_token(token)
    # Locked: two people taking the last use of a single-use link at once.
    invite = Invite.objects.select_for_update().select_related("room").get(pk=invite.pk)
    room = invite.room
    if _belongs(room, user):
        return room
    _check_usable(invite)
    if selectors.active_ban(room=room, user=user) is not None:
        raise ChatError(ErrorCode.FORBIDDEN, "You are banned from this room.")
    # Counted only while a use is left: the condition holds even where the row lock
    # above is a no-op, so a single-use link never lets two people in.
    uses_left = Q() if invite.max_uses is None else Q(uses__lt=invite.max_uses)
    if not Invite.objects.filter(uses_left, pk=invite.pk).update(uses=F("uses") + 1):
        raise ChatError(ErrorCode.FORBIDDEN, "This invite link has been used up.")
    room.members.add(user)
    services.audit(
        kind=ModerationAction.Kind.JOIN,
        by=user,
        room=room,
        target_user=user,
        invite=invite.pk,
        invited_by=invite.created_by_id,
    )
    return room

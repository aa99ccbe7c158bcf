"""A private room's members from its page: invite by name or link, remove, make
moderator, leave; and the page that accepts an invite link.

HTTP only: every decision (who may, what is stored, who is closed) is
``chat.membership``'s. The room page's members panel talks JSON to these views,
POST with the CSRF token for every change.
"""

from __future__ import annotations

from datetime import timedelta
from functools import partial

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_GET

from chat import membership
from chat.models import Invite, Room
from chat.views.pages import json_error, render_page, room_action, room_or_refusal
from chat.wire.errors import ChatError, ErrorCode

# The HTTP status of a refused membership change.
STATUS_FOR_ERROR = {ErrorCode.NOT_FOUND: 404, ErrorCode.FORBIDDEN: 403}


def member_action(view):
    """A room action any member may try; ``chat.membership`` decides (403 when not)."""

    @partial(room_action, moderators_only=False)
    def wrapper(request: HttpRequest, room: Room, **kwargs) -> JsonResponse:
        try:
            return view(request, room, **kwargs)
        except ChatError as error:
            return json_error(STATUS_FOR_ERROR.get(error.code, 400), error.detail)

    wrapper.__name__ = wrapper.__qualname__ = view.__name__
    wrapper.__doc__ = view.__doc__
    return wrapper


def invite_url(request: HttpRequest, invite: Invite) -> str:
    """The absolute link of ``invite``, to copy and send."""
    path = reverse("chat:invite", kwargs={"token": membership.invite_token(invite)})
    return request.build_absolute_uri(path)


def _invite_json(request: HttpRequest, invite: Invite) -> dict:
    return {
        "id": invite.pk,
        "url": invite_url(request, invite),
        "expiresAt": invite.expires_at.isoformat(),
        "maxUses": invite.max_uses,
        "uses": invite.uses,
    }


@require_GET
def members(request: HttpRequest, slug: str) -> JsonResponse:
    """The room's members (anyone who may enter it) and, for those who manage its
    members, its open invite links."""
    room = room_or_refusal(request, slug)
    if isinstance(room, JsonResponse):
        return room
    manages = membership.can_manage_members(room=room, user=request.user)
    listing = [
        {"username": m.username, "moderator": m.moderator} for m in membership.members_of(room)
    ]
    invites = [_invite_json(request, i) for i in membership.open_invites(room)] if manages else []
    return JsonResponse({"ok": True, "members": listing, "invites": invites, "canManage": manages})


class UsernameForm(forms.Form):
    username = forms.CharField(max_length=150)


class InviteForm(forms.Form):
    """A new link: how long it lives (seconds, from ``INVITE_EXPIRY_CHOICES``) and
    whether it lets one person in or any number."""

    expires = forms.TypedChoiceField(
        choices=[(s, label) for s, label in membership.INVITE_EXPIRY_CHOICES], coerce=int
    )
    uses = forms.ChoiceField(choices=[("1", "one person"), ("any", "any number of people")])


def _form_error(form: forms.Form) -> JsonResponse:
    return json_error(400, " ".join(e for errors in form.errors.values() for e in errors))


@member_action
def add_member(request: HttpRequest, room: Room) -> JsonResponse:
    """Invite a user by name into the private room (its moderators)."""
    form = UsernameForm(request.POST)
    if not form.is_valid():
        return _form_error(form)
    # Before looking the name up: an outsider learns nothing about who exists.
    membership.require_manager(room=room, by=request.user)
    user = membership.user_named(form.cleaned_data["username"])
    added = membership.add_member(room=room, user=user, by=request.user)
    return JsonResponse({"ok": True, "user": user.get_username(), "added": added})


@member_action
def remove_member(request: HttpRequest, room: Room, username: str) -> JsonResponse:
    """Remove a member; their open pages of the room close (its moderators)."""
    # Before looking the name up: an outsider learns nothing about who exists.
    membership.require_manager(room=room, by=request.user)
    user = membership.user_named(username)
    removed = membership.remove_member(room=room, user=user, by=request.user)
    return JsonResponse({"ok": True, "user": user.get_username(), "removed": removed})


@member_action
def set_moderator(request: HttpRequest, room: Room, username: str) -> JsonResponse:
    """Make a member a moderator (``moderator=0``: stop them moderating)."""
    # Before looking the name up: an outsider learns nothing about who exists.
    membership.require_manager(room=room, by=request.user)
    user = membership.user_named(username)
    moderator = request.POST.get("moderator", "1") != "0"
    changed = membership.set_moderator(room=room, user=user, by=request.user, moderator=moderator)
    return JsonResponse({"ok": True, "user": user.get_username(), "changed": changed})


@member_action
def leave_room(request: HttpRequest, room: Room) -> JsonResponse:
    """Leave the room; the page goes back to the lobby."""
    left = membership.leave_room(room=room, user=request.user)
    return JsonResponse({"ok": True, "left": left, "next": reverse("chat:lobby")})


@member_action
def create_invite(request: HttpRequest, room: Room) -> JsonResponse:
    """A new invite link (its moderators): ``expires`` seconds, ``uses`` 1 or "any"."""
    form = InviteForm(request.POST)
    if not form.is_valid():
        return _form_error(form)
    invite = membership.create_invite(
        room=room,
        by=request.user,
        max_uses=1 if form.cleaned_data["uses"] == "1" else None,
        expires_in=timedelta(seconds=form.cleaned_data["expires"]),
    )
    return JsonResponse({"ok": True, "invite": _invite_json(request, invite)})


@member_action
def revoke_invite(request: HttpRequest, room: Room, invite_id: int) -> JsonResponse:
    """Revoke one of the room's invite links (its moderators)."""
    # Before looking the link up: an outsider learns nothing about which exist.
    membership.require_manager(room=room, by=request.user)
    invite = Invite.objects.filter(pk=invite_id, room=room).select_related("room").first()
    if invite is None:
        return json_error(404, "no such invite link in this room")
    revoked = membership.revoke_invite(invite=invite, by=request.user)
    return JsonResponse({"ok": True, "revoked": revoked})


# --- accepting a link ------------------------------------------------------------


@login_required
def invite(request: HttpRequest, token: str) -> HttpResponse:
    """GET: the room a link invites to, with a Join button; POST (CSRF): join it.

    A forged, expired, revoked or used-up link gets a page saying so, and nothing
    is stored. Signed-out visitors go to the host's login page and come back here.
    """
    try:
        found, member = membership.invite_for(token=token, user=request.user)
        room = found.room
        if request.method == "POST":
            membership.accept_invite(token=token, user=request.user)
            return redirect("chat:room", slug=room.slug)
    except ChatError as error:
        status = STATUS_FOR_ERROR.get(error.code, 400)
        return render_page(
            request, "chat/invite_invalid.html", {"detail": error.detail}, status=status
        )
    context = {"invite": found, "room": room, "member": member, "token": token}
    return render_page(request, "chat/invite.html", context)

"""HTML pages (lobby, room, create room) and the room page's moderator actions.

Every write goes through ``chat.services`` and every permission question through
``chat.selectors``, exactly as the WebSocket consumer does; these views only turn
HTTP into those calls. The moderator actions answer JSON for the room page's script.

Accounts (log in, sign up) belong to the host project: the pages link to its
``LOGIN_URL`` and extend its base template (``CHAT_BASE_TEMPLATE``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial, wraps

from asgiref.sync import async_to_sync
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.db import IntegrityError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.timesince import timesince
from django.views.decorators.http import require_POST

from chat import abuse_limits, direct, selectors, services, sidebar
from chat.client_address import request_address
from chat.conf import REACTIONS, chat_settings
from chat.forms import SANCTION_PRESETS, ReasonForm, RoomForm, SanctionForm, sanction_until
from chat.membership import INVITE_EXPIRY_CHOICES
from chat.models import Room
from chat.stores import presence
from chat.wire import protocol
from chat.wire.errors import HTTP_STATUS_FOR_CLOSE, ChatError, CloseCode, ErrorCode, Refusal

logger = logging.getLogger(__name__)

# Rooms listed in the lobby; more would need paging (none yet).
LOBBY_LIMIT = 200
# Older history the room page asks for at a time when the reader scrolls up.
HISTORY_PAGE = 50


# --- rendering -------------------------------------------------------------------


def login_url(next_url: str) -> str:
    """The host's ``LOGIN_URL`` with ``next`` pointing back at ``next_url``."""
    return redirect_to_login(next_url).url


def render_page(
    request: HttpRequest, template: str, context: dict, *, status: int = 200
) -> HttpResponse:
    """Render one of the chat's pages inside the host's base template."""
    page_context = {
        "chat_base_template": chat_settings().base_template,
        "chat_login_url": login_url(request.get_full_path()),
        **context,
    }
    return render(request, template, page_context, status=status)


# --- lobby and rooms -------------------------------------------------------------


def online_counts(rooms: list[Room]) -> dict[int, int] | None:
    """Online users per room, or None when presence cannot be read (Redis down).

    Under daphne this sync view runs in a worker thread and ``async_to_sync`` hands
    the call to the server's event loop, where the presence backend lives; under
    WSGI each call runs in a short loop of its own (the store uses that loop's client).
    """
    try:
        return async_to_sync(presence.presence().online_counts)([room.pk for room in rooms])
    except Exception as exc:  # noqa: BLE001 - the lobby still renders without counts
        logger.warning("lobby online counts failed: %r", exc)
        return None


def activity(moment: datetime | None, now: datetime) -> str:
    """When a room was last active, as people say it: "just now", "25 minutes ago"."""
    if moment is None:
        return ""
    if now - moment < timedelta(minutes=1):
        return "just now"
    return f"{timesince(moment, now, depth=1)} ago"


def sidebar_context(request: HttpRequest, *, current: str = "", lobby: bool = False) -> dict:
    """The sidebar partial's data (``chat/_sidebar.html``): the user's rooms with their
    counts as the database has them; ``/ws/me/`` brings them up to date at once."""
    if not request.user.is_authenticated:
        return {}
    rooms = [r.wire() for r in sidebar.sidebar(request.user)]
    return {"sidebar": {"rooms": rooms, "current": current, "lobby": lobby}}


def render_lobby(request: HttpRequest, form: RoomForm | None = None, status: int = 200):
    rooms = list(selectors.lobby_rooms(user=request.user)[:LOBBY_LIMIT])
    counts = online_counts(rooms)
    now = timezone.now()
    listing = [
        {
            "room": room,
            "online": None if counts is None else counts.get(room.pk, 0),
            "activity": activity(room.last_message_at, now),
        }
        for room in rooms
    ]
    if form is None and request.user.is_authenticated:
        form = RoomForm()
    context = {
        "rooms": listing,
        "form": form,
        "counts_known": counts is not None,
        **sidebar_context(request, lobby=True),
    }
    return render_page(request, "chat/lobby.html", context, status=status)


def lobby(request: HttpRequest) -> HttpResponse:
    """The rooms the user may enter, with online counts and last activity."""
    return render_lobby(request)


@login_required
def create_room(request: HttpRequest) -> HttpResponse:
    """POST: create a room (the creator moderates it) and go there; GET: back to the lobby."""
    if request.method != "POST":
        return redirect("chat:lobby")
    form = RoomForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        wait = abuse_limits.room_creation_wait(
            user_id=request.user.pk, address=request_address(request)
        )
        if wait is not None:
            form.add_error(
                None, f"You have created many rooms lately. Try again in {wait} seconds."
            )
            return render_lobby(request, form, status=429)
        try:
            room = services.create_room(
                slug=data["slug"],
                title=data["title"],
                description=data["description"],
                is_private=data["is_private"],
                by=request.user,
            )
        except IntegrityError:
            # Someone took the slug between the form's check and the insert.
            form.add_error(
                "slug",
                f"A room with the address “{data['slug']}” already exists. Pick another address.",
            )
        else:
            return redirect("chat:room", slug=room.slug)
    return render_lobby(request, form, status=400)


def room_config(request: HttpRequest, room: Room) -> dict:
    """What the room page's script needs; rendered with ``json_script`` (data, not code)."""
    settings = chat_settings()
    room_url = reverse("chat:room", kwargs={"slug": room.slug})
    return {
        "slug": room.slug,
        "title": room.title,
        "user": request.user.get_username(),
        "isModerator": selectors.is_moderator(room=room, user=request.user),
        "isPrivate": room.is_private,
        "locked": room.is_locked,
        "slowMode": room.slow_mode_seconds,
        "maxLength": settings.max_message_length,
        "editWindow": settings.edit_window_seconds,
        "historyPage": min(HISTORY_PAGE, settings.history_page_max),
        "reactions": list(REACTIONS),
        "wsPath": f"/ws/rooms/{room.slug}/",
        "roomUrl": room_url,
        "uploadUrl": reverse("chat:api_files", kwargs={"slug": room.slug}),
        "maxUploadBytes": settings.max_upload_bytes,
        "maxFiles": protocol.MAX_FILES_PER_MESSAGE,
        "healthUrl": reverse("chat:healthz"),
        "dmUrl": reverse("chat:open_dm"),
        "blockUrl": reverse("chat:block_user"),
        "loginUrl": login_url(room_url),
    }


@login_required
def room(request: HttpRequest, slug: str) -> HttpResponse:
    """The live room; refused rooms get a page saying why (404, 403 or 410).

    The 404 is rendered here, not raised: the host's 404 handler (or, with DEBUG,
    Django's technical page, whose inline styles the CSP blocks) would show a bare
    page without a way back into the chat.
    """
    try:
        room = selectors.room_for_user(slug=slug, user=request.user)
    except Refusal as refusal:
        if refusal.close_code == CloseCode.NO_SUCH_ROOM:
            return render_page(request, "chat/not_found.html", {"slug": slug}, status=404)
        status = HTTP_STATUS_FOR_CLOSE.get(refusal.close_code, 403)
        return render_page(
            request,
            "chat/room_refused.html",
            {"slug": slug, "detail": refusal.detail},
            status=status,
        )
    # Staff reading someone else's DM: recorded in the audit trail, each time.
    direct.record_view(room=room, by=request.user)
    context = {
        "room": room,
        "dm": direct.page_context(room=room, user=request.user),
        "config": room_config(request, room),
        "sanction_presets": SANCTION_PRESETS,
        **sidebar_context(request, current=room.slug),
        "invite_expiry_choices": INVITE_EXPIRY_CHOICES,
    }
    return render_page(request, "chat/room.html", context)


# --- moderator actions (JSON, for the room page) ----------------------------------


def json_error(status: int, detail: str) -> JsonResponse:
    return JsonResponse({"ok": False, "detail": detail}, status=status)


# The HTTP status of a refused room action.
STATUS_FOR_ERROR = {ErrorCode.NOT_FOUND: 404, ErrorCode.NOT_AUTHOR: 403}


def room_or_refusal(request: HttpRequest, slug: str) -> Room | JsonResponse:
    """The room ``slug`` if the signed-in user may enter it, else the JSON refusal."""
    if not request.user.is_authenticated:
        return json_error(401, "sign in first")
    try:
        return selectors.room_for_user(slug=slug, user=request.user)
    except Refusal as refusal:
        return json_error(HTTP_STATUS_FOR_CLOSE.get(refusal.close_code, 403), refusal.detail)


def room_action(
    view: Callable[..., JsonResponse], *, moderators_only: bool = True
) -> Callable[..., JsonResponse]:
    """POST only, signed in, allowed into the room (and, by default, a moderator of it);
    JSON errors.

    CSRF is checked by Django's middleware (the page sends ``X-CSRFToken``).
    """

    @require_POST
    @wraps(view)
    def wrapper(request: HttpRequest, slug: str, **kwargs) -> JsonResponse:
        room = room_or_refusal(request, slug)
        if isinstance(room, JsonResponse):
            return room
        if moderators_only and not selectors.is_moderator(room=room, user=request.user):
            return json_error(403, "only moderators of this room can do that")
        try:
            return view(request, room, **kwargs)
        except ChatError as error:
            return json_error(STATUS_FOR_ERROR.get(error.code, 400), error.detail)

    return wrapper


def moderator_action(view: Callable[..., JsonResponse]) -> Callable[..., JsonResponse]:
    """A room action for the room's moderators only."""
    return room_action(view, moderators_only=True)


@partial(room_action, moderators_only=False)
def delete_message(request: HttpRequest, room: Room, message_id: int) -> JsonResponse:
    """Delete a message of this room: a moderator any, an author their own within the edit
    window (``services.delete_message`` decides); open pages get a ``deleted`` frame."""
    message = services.message_in_room(room=room, message_id=message_id)
    form = ReasonForm(request.POST)
    reason = form.cleaned_data["reason"] if form.is_valid() else ""
    moderator = selectors.is_moderator(room=room, user=request.user)
    services.delete_message(message=message, by=request.user, reason=reason, moderator=moderator)
    return JsonResponse({"ok": True, "id": message.pk})


def sanction(kind: str) -> Callable[..., JsonResponse]:
    """A mute or ban view: ``minutes`` (empty: until lifted) and ``reason`` from the form."""
    service = {"mute": services.mute_user, "ban": services.ban_user}[kind]

    @moderator_action
    def view(request: HttpRequest, room: Room, username: str) -> JsonResponse:
        users = get_user_model()
        target = users.objects.filter(**{users.USERNAME_FIELD: username}).first()
        if target is None:
            return json_error(404, "no such user")
        if target.pk == request.user.pk:
            return json_error(400, f"you cannot {kind} yourself")
        form = SanctionForm(request.POST)
        if not form.is_valid():
            return json_error(400, " ".join(e for errors in form.errors.values() for e in errors))
        until = sanction_until(form.cleaned_data["minutes"])
        service(
            room=room, user=target, by=request.user, until=until, reason=form.cleaned_data["reason"]
        )
        return JsonResponse({"ok": True, "user": target.get_username(), "until": until})

    view.__name__ = view.__qualname__ = f"{kind}_user"
    view.__doc__ = f"{kind.title()} a user in this room (moderators)."
    return view


mute_user = sanction("mute")
ban_user = sanction("ban")

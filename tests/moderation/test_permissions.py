"""Who may moderate: every action refused to a regular user, on every way in.

The services trust their callers (they take ``by`` and record it); the checks live
in the admin (staff and model permissions), the room page's moderator endpoints
(the room's moderators, or staff who may change messages) and the consumer (which
has no moderation frame at all). Each refusal below also checks that nothing
changed: no row, no audit entry, no frame to the room.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from asgiref.sync import sync_to_async
from django.test import Client
from django.urls import reverse

from chat import services
from chat.models import ApiToken, Ban, Message, ModerationAction, Mute, Report, Room
from chat.wire.errors import CloseCode
from tests.helpers.ws import connect
from tests.moderation.conftest import ROOM, action_form, change_url, changelist

CHAT_MODELS = [Room, Message, Ban, Mute, Report, ApiToken, ModerationAction]
VIEW_ALL = [f"view_{model._meta.model_name}" for model in CHAT_MODELS]


@pytest.fixture
def world(room, user, other_user, make_user, make_room, staff_user):
    """A live-looking room: bob's spam, a deleted message, carol banned and muted,
    alice's open report of the spam, bob's API token; dave moderates another room."""
    carol, dave = make_user("carol"), make_user("dave")
    other = make_room("other")
    other.moderators.add(dave)
    quiet = make_room("quiet", is_locked=True, slow_mode_seconds=10)
    old = make_room("old", is_archived=True)
    spam = services.post_message(room=room, author=other_user, body="buy cheap watches").message
    gone = services.post_message(room=room, author=other_user, body="stale news").message
    services.delete_message(message=gone, by=staff_user, reason="stale")
    ban = services.ban_user(room=room, user=carol, by=staff_user, reason="earlier")
    mute = services.mute_user(room=room, user=carol, by=staff_user, reason="earlier")
    report = services.report_message(message_id=spam.pk, room=room, by=user, reason="spam")
    services.issue_token(user=other_user)
    return SimpleNamespace(
        room=room,
        other=other,
        quiet=quiet,
        old=old,
        alice=user,
        bob=other_user,
        carol=carol,
        dave=dave,
        spam=spam,
        gone=gone,
        ban=ban,
        mute=mute,
        report=report,
        token=ApiToken.objects.get(user=other_user),
    )


def snapshot() -> tuple:
    """Everything moderation can change, to compare before and after a refused request."""
    return (
        list(Message.objects.order_by("pk").values_list("pk", "deleted_at", "deleted_by")),
        list(Ban.objects.order_by("pk").values_list("room", "user", "until", "reason")),
        list(Mute.objects.order_by("pk").values_list("room", "user", "until", "reason")),
        list(
            Room.objects.order_by("pk").values_list(
                "slug", "title", "is_private", "is_locked", "slow_mode_seconds", "is_archived"
            )
        ),
        sorted(Room.moderators.through.objects.values_list("room", "user")),
        sorted(Room.members.through.objects.values_list("room", "user")),
        list(Report.objects.order_by("pk").values_list("status", "resolved_by", "note")),
        list(ApiToken.objects.order_by("pk").values_list("revoked_at")),
        ModerationAction.objects.count(),
    )


def room_form(room: Room, **changes) -> dict:
    """The room change form as the admin renders it, with ``changes`` applied."""
    form = {
        "slug": room.slug,
        "title": room.title,
        "description": room.description,
        "slow_mode_seconds": room.slow_mode_seconds,
        "created_by": room.created_by_id or "",
        "moderators": [u.pk for u in room.moderators.all()],
    }
    for flag in ("is_private", "is_locked", "is_archived"):
        if getattr(room, flag):
            form[flag] = "on"
    form.update(changes)
    return form


def sanction_form(w, **changes) -> dict:
    return {"room": w.room.pk, "user": w.bob.pk, "reason": "x", "until_0": "", "until_1": ""}


# Every moderation action the admin offers, as the browser posts it: (url, form).
ADMIN_ACTIONS = {
    "delete message": lambda w: (
        changelist(Message),
        action_form("delete_messages", [w.spam], reason="x"),
    ),
    "restore message": lambda w: (changelist(Message), action_form("restore_messages", [w.gone])),
    "ban (add form)": lambda w: (reverse("admin:chat_ban_add"), sanction_form(w)),
    "ban (change form)": lambda w: (
        change_url(w.ban),
        {"until_0": "", "until_1": "", "reason": "longer"},
    ),
    "unban (delete page)": lambda w: (
        reverse("admin:chat_ban_delete", args=[w.ban.pk]),
        {"post": "yes"},
    ),
    "unban (bulk action)": lambda w: (
        changelist(Ban),
        action_form("delete_selected", [w.ban], post="yes"),
    ),
    "mute (add form)": lambda w: (reverse("admin:chat_mute_add"), sanction_form(w)),
    "unmute (delete page)": lambda w: (
        reverse("admin:chat_mute_delete", args=[w.mute.pk]),
        {"post": "yes"},
    ),
    "lock": lambda w: (changelist(Room), action_form("lock", [w.room])),
    "unlock": lambda w: (changelist(Room), action_form("unlock", [w.quiet])),
    "lock (change form)": lambda w: (change_url(w.room), room_form(w.room, is_locked="on")),
    "slow mode": lambda w: (changelist(Room), action_form("slow_mode_30s", [w.room])),
    "slow mode off": lambda w: (changelist(Room), action_form("slow_mode_off", [w.quiet])),
    "archive": lambda w: (changelist(Room), action_form("archive", [w.room])),
    "unarchive": lambda w: (changelist(Room), action_form("unarchive", [w.old])),
    "make self moderator": lambda w: (
        change_url(w.room),
        room_form(w.room, moderators=[w.alice.pk, w.dave.pk]),
    ),
    "resolve report: delete": lambda w: (
        changelist(Report),
        action_form("delete_message", [w.report], reason="x"),
    ),
    "resolve report: ban": lambda w: (
        changelist(Report),
        action_form("ban_author", [w.report], reason="x"),
    ),
    "resolve report: mute": lambda w: (
        changelist(Report),
        action_form("mute_author", [w.report], reason="x"),
    ),
    "resolve report: dismiss": lambda w: (changelist(Report), action_form("dismiss", [w.report])),
    "revoke token": lambda w: (changelist(ApiToken), action_form("revoke", [w.token])),
}


# --- the admin -----------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["anonymous", "regular user", "room moderator"])
@pytest.mark.parametrize("action", ADMIN_ACTIONS)
def test_admin_sends_non_staff_to_the_login_page(world, signed_in, who, action):
    if who == "room moderator":
        world.room.moderators.add(world.dave)  # moderates on the page, not in the admin
    client = {
        "anonymous": Client(),
        "regular user": signed_in(world.alice),
        "room moderator": signed_in(world.dave),
    }[who]
    url, form = ADMIN_ACTIONS[action](world)
    before = snapshot()

    response = client.post(url, form)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login") + "?next=")
    assert snapshot() == before


@pytest.mark.django_db
@pytest.mark.parametrize("action", ADMIN_ACTIONS)
def test_staff_without_chat_permissions_get_403(world, signed_in, make_staff, action):
    client = signed_in(make_staff("helpdesk"))
    url, form = ADMIN_ACTIONS[action](world)
    before = snapshot()

    response = client.post(url, form)

    assert response.status_code == 403
    assert snapshot() == before


@pytest.mark.django_db
@pytest.mark.parametrize("action", ADMIN_ACTIONS)
def test_view_only_staff_can_read_but_not_act(world, signed_in, make_staff, action):
    client = signed_in(make_staff("auditor", *VIEW_ALL))
    url, form = ADMIN_ACTIONS[action](world)
    before = snapshot()

    response = client.post(url, form)

    if "action" in form:
        # The action is not offered to them: the changelist says so (or just renders).
        assert response.status_code in (200, 302)
        if response.status_code == 302:
            page = client.get(response["Location"])
            assert "No action selected." in page.content.decode()
    else:
        assert response.status_code == 403
    assert snapshot() == before


@pytest.mark.django_db
@pytest.mark.parametrize("model", CHAT_MODELS, ids=lambda m: m.__name__)
def test_staff_without_permissions_cannot_open_changelists_or_change_pages(
    world, signed_in, make_staff, model
):
    client = signed_in(make_staff("helpdesk"))
    obj = model.objects.order_by("pk").first()

    assert client.get(changelist(model)).status_code == 403
    assert client.get(change_url(obj)).status_code == 403
    index = client.get(reverse("admin:index"))
    assert index.status_code == 200 and not index.context["app_list"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("permissions", "allowed"),
    [
        (["change_report"], {"dismiss"}),
        (["change_report", "change_message"], {"dismiss", "delete_message"}),
        (["change_report", "add_ban"], {"dismiss", "ban_author"}),
        (["change_report", "add_mute"], {"dismiss", "mute_author"}),
    ],
    ids=["report only", "+ change message", "+ add ban", "+ add mute"],
)
def test_resolving_a_report_needs_the_permission_of_its_effect(
    world, signed_in, make_staff, permissions, allowed
):
    """Triaging reports does not by itself let a staff member delete, ban or mute."""
    client = signed_in(make_staff("triage", "view_report", *permissions))

    offered = client.get(changelist(Report)).context["action_form"].fields["action"].choices
    assert {name for name, _ in offered if name} == allowed

    for action in ("delete_message", "ban_author", "mute_author", "dismiss"):
        before = snapshot()
        client.post(changelist(Report), action_form(action, [world.report], reason="x"))
        if action in allowed:
            world.report.refresh_from_db()
            assert world.report.status != "open"
            return  # resolved: the report is no longer open for the next action
        assert snapshot() == before, action


@pytest.mark.django_db
def test_staff_with_the_model_permissions_can_moderate_without_being_superuser(
    world, signed_in, make_staff
):
    moderator = make_staff("mod", "view_message", "change_message", "view_room", "change_room")
    client = signed_in(moderator)

    client.post(changelist(Message), action_form("delete_messages", [world.spam], reason="spam"))
    client.post(changelist(Room), action_form("lock", [world.room], reason="calm"))

    world.spam.refresh_from_db()
    world.room.refresh_from_db()
    assert world.spam.deleted_by == moderator and world.room.is_locked
    assert list(
        ModerationAction.objects.filter(actor=moderator)
        .order_by("pk")
        .values_list("kind", "reason")
    ) == [("delete", "spam"), ("room", "calm")]
    # Bans are another model: not theirs.
    assert client.post(reverse("admin:chat_ban_add"), sanction_form(world)).status_code == 403


# --- the room page's moderator endpoints ---------------------------------------------


def page_action(kind: str, w) -> tuple[str, dict]:
    return {
        "delete": (f"/rooms/lobby/messages/{w.spam.pk}/delete", {"reason": "x"}),
        "mute": ("/rooms/lobby/users/bob/mute", {"minutes": "10", "reason": "x"}),
        "ban": ("/rooms/lobby/users/bob/ban", {"minutes": "", "reason": "x"}),
    }[kind]


@pytest.mark.django_db
@pytest.mark.parametrize("kind", ["delete", "mute", "ban"])
@pytest.mark.parametrize("who", ["regular user", "moderator of another room", "staff"])
def test_room_page_refuses_non_moderators(world, signed_in, make_staff, kind, who):
    actor = {
        "regular user": world.alice,
        "moderator of another room": world.dave,
        # Staff who may not change messages are not moderators anywhere.
        "staff": make_staff("helpdesk", "view_message", "add_ban", "add_mute"),
    }[who]
    url, form = page_action(kind, world)
    before = snapshot()

    response = signed_in(actor).post(url, form)

    assert response.status_code == 403
    # Authors may delete their own messages there too: the refusal says so.
    detail = {"delete": "you can only delete your own messages"}.get(
        kind, "only moderators of this room can do that"
    )
    assert response.json() == {"ok": False, "detail": detail}
    assert snapshot() == before


@pytest.mark.django_db
def test_a_moderator_of_another_room_cannot_reach_this_rooms_message_through_theirs(
    world, signed_in
):
    client = signed_in(world.dave)
    before = snapshot()

    response = client.post(f"/rooms/other/messages/{world.spam.pk}/delete")

    assert response.status_code == 404
    assert snapshot() == before


@pytest.mark.django_db
@pytest.mark.parametrize("kind", ["delete", "mute", "ban"])
def test_a_room_moderator_who_is_not_staff_moderates_their_room(world, signed_in, kind):
    world.room.moderators.add(world.dave)
    client = signed_in(world.dave)
    url, form = page_action(kind, world)

    response = client.post(url, form)

    assert response.status_code == 200 and response.json()["ok"] is True
    if kind == "delete":
        world.spam.refresh_from_db()
        assert world.spam.deleted_by == world.dave
    else:
        model = {"mute": Mute, "ban": Ban}[kind]
        assert model.objects.get(room=world.room, user=world.bob).created_by == world.dave
    action = ModerationAction.objects.latest("pk")
    assert (action.kind, action.actor, action.room, action.reason) == (
        kind,
        world.dave,
        world.room,
        "x",
    )
    # Still not staff: the admin sends them to its login page.
    assert client.get(changelist(Message)).status_code == 302


# --- crafted WebSocket frames --------------------------------------------------------

MODERATION_TYPES = [
    "delete",  # a client frame now: a member may delete only their own messages
    "deleted",
    "restore",
    "ban",
    "unban",
    "mute",
    "unmute",
    "lock",
    "unlock",
    "room",
    "slow_mode",
    "archive",
    "resolve",
    "revoke",
]


@pytest.mark.django_db(transaction=True)
async def test_there_is_no_moderation_frame(live, world, make_token):
    alice_token = await sync_to_async(make_token)(world.alice)
    bob_token = await sync_to_async(make_token)(world.bob)
    before = await sync_to_async(snapshot)()
    async with connect(ROOM, token=alice_token) as alice, connect(ROOM, token=bob_token) as bob:
        for kind in MODERATION_TYPES:
            await alice.send(
                kind,
                id=world.spam.pk,
                user="bob",
                room="lobby",
                locked=True,
                slow_mode=30,
                seconds=30,
                until=None,
                status="banned",
                token=world.token.prefix,
            )
            error = await alice.expect("error")
            assert error["code"] == ("not_author" if kind == "delete" else "unknown_type"), kind
        await alice.send("ping")
        await alice.expect("pong")  # the connection lives on
        # bob saw no moderation frame and is still connected and allowed to speak.
        await bob.send("message", body="still here", client_id="b1")
        await bob.expect("ack", client_id="b1")
        assert not [f for f in bob.seen if f["type"] in ("deleted", "room", "error")]
    after = await sync_to_async(snapshot)()
    assert after[1:] == before[1:]
    assert after[0][: len(before[0])] == before[0]  # bob's new message aside


@pytest.mark.django_db(transaction=True)
async def test_the_server_decides_who_sends(live, world, make_token):
    alice_token = await sync_to_async(make_token)(world.alice)
    async with connect(ROOM, token=alice_token) as alice:
        await alice.send("message", body="hi", client_id="m1", user="admin", room="other")
        frame = await alice.expect("message", client_id="m1")
    assert (frame["user"], frame["room"]) == ("alice", "lobby")


@pytest.mark.django_db(transaction=True)
async def test_a_report_cannot_reach_another_rooms_message(live, world, make_token):
    elsewhere = await sync_to_async(services.post_message)(
        room=world.other, author=world.dave, body="other room"
    )
    alice_token = await sync_to_async(make_token)(world.alice)
    async with connect(ROOM, token=alice_token) as alice:
        for message_id in (elsewhere.message.pk, 10**9):
            await alice.send("report", id=message_id, reason="x")
            error = await alice.expect("error")
            assert error == {
                "type": "error",
                "code": "bad_request",
                "detail": "no such message in this room",
            }
    assert await Report.objects.acount() == 1  # the world's own report only


# --- another room's private data -----------------------------------------------------


@pytest.fixture
def secret(make_room, world):
    """A private room with one member (carol) and a message nobody else may read."""
    room = make_room("secret", is_private=True)
    room.members.add(world.carol)
    message = services.post_message(room=room, author=world.carol, body="the launch date is 5 May")
    return SimpleNamespace(room=room, message=message.message)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("who", ["regular user", "staff without permissions"])
async def test_a_private_room_refuses_outsiders_on_the_websocket(
    live, world, secret, make_token, make_staff, who
):
    outsider = world.alice if who == "regular user" else await sync_to_async(make_staff)("helpdesk")
    token = await sync_to_async(make_token)(outsider)
    async with connect("/ws/rooms/secret/", token=token, expect_ready=False) as client:
        await client.expect_close(CloseCode.FORBIDDEN)
    assert [f["code"] for f in client.seen] == ["forbidden"]
    assert "5 May" not in str(client.seen)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("who", ["regular user", "staff without permissions"])
def test_a_private_room_refuses_outsiders_on_the_history_api_and_page(
    world, secret, signed_in, make_staff, who
):
    outsider = world.alice if who == "regular user" else make_staff("helpdesk")
    browser = signed_in(outsider)
    token = services.issue_token(user=outsider)

    by_token = Client().get("/api/rooms/secret/messages", HTTP_AUTHORIZATION=f"Bearer {token}")
    by_session = browser.get("/api/rooms/secret/messages")
    page = browser.get("/rooms/secret/")
    lobby = browser.get("/")

    for response in (by_token, by_session):
        assert response.status_code == 403
        assert response.json() == {"error": "forbidden", "detail": "this room is private"}
    assert page.status_code == 403
    for response in (by_token, by_session, page, lobby):
        assert "5 May" not in response.content.decode()
    assert "secret" not in [entry["room"].slug for entry in lobby.context["rooms"]]


@pytest.mark.django_db(transaction=True)
def test_staff_who_may_read_messages_may_read_private_rooms(world, secret, make_staff):
    reader = make_staff("reader", "view_message")
    token = services.issue_token(user=reader)

    response = Client().get("/api/rooms/secret/messages", HTTP_AUTHORIZATION=f"Bearer {token}")

    assert response.status_code == 200
    assert [m["body"] for m in response.json()["messages"]] == ["the launch date is 5 May"]


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["regular user", "staff without permissions"])
def test_admin_urls_do_not_show_private_messages_without_permission(
    world, secret, signed_in, make_staff, who
):
    outsider = world.alice if who == "regular user" else make_staff("helpdesk")
    client = signed_in(outsider)
    urls = [
        changelist(Message) + f"?room__id__exact={secret.room.pk}",
        changelist(Message) + "?q=launch",
        change_url(secret.message),
        change_url(secret.room),
        reverse("admin:autocomplete") + "?app_label=chat&model_name=ban&field_name=room&term=s",
    ]

    for url in urls:
        response = client.get(url)
        assert response.status_code == (302 if who == "regular user" else 403), url
        assert "5 May" not in response.content.decode()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("change", ["room made private", "member removed"])
async def test_losing_access_in_the_admin_closes_open_connections(
    live, world, make_token, admin_client, change
):
    """Access is checked when a connection opens; a change in the admin must not leave
    an outsider reading on."""
    room = world.room
    if change == "member removed":
        await sync_to_async(room.members.add)(world.alice, world.bob)
        await Room.objects.filter(pk=room.pk).aupdate(is_private=True)
        await sync_to_async(room.refresh_from_db)()
        form = await sync_to_async(room_form)(room, members=[world.bob.pk])
    else:
        await sync_to_async(room.members.add)(world.bob)
        form = await sync_to_async(room_form)(room, is_private="on", members=[world.bob.pk])
    alice_token = await sync_to_async(make_token)(world.alice)
    bob_token = await sync_to_async(make_token)(world.bob)
    async with connect(ROOM, token=alice_token) as alice, connect(ROOM, token=bob_token) as bob:
        response = await sync_to_async(admin_client.post)(change_url(room), form)
        assert response.status_code == 302, response.content[:300]

        await alice.expect_close(CloseCode.FORBIDDEN)
        assert alice.seen[-1]["detail"] == "this room is private"
        await bob.send("message", body="members only now", client_id="b1")
        await bob.expect("ack", client_id="b1")
    assert "members only now" not in str(alice.seen)

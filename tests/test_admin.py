"""The admin as a moderator uses it: pages render fast with data, actions go through services."""

from datetime import timedelta

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from chat import services
from chat.models import ApiToken, Ban, Message, ModerationAction, Mute, Report, Room

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

ROWS = 30  # enough that a query per row could not hide under the bounds below
MODELS = [Room, Message, Ban, Mute, ApiToken, Report, ModerationAction]


@pytest.fixture
def moderator(client, staff_user):
    client.force_login(staff_user)
    return staff_user


@pytest.fixture
def data(make_room, make_user, staff_user):
    """Rows in every model, made through the services where the product makes them."""
    rooms = [make_room(f"room-{n}", created_by=staff_user) for n in range(12)]
    users = [make_user(f"member{n}") for n in range(ROWS)]
    for n, user in enumerate(users):
        services.post_message(room=rooms[n % 3], author=user, body=f"hello {n}", client_id=f"c{n}")
    messages = list(Message.objects.order_by("id"))
    for message in messages[:5]:
        services.delete_message(message=message, by=staff_user, reason="spam")
    for n, user in enumerate(users[: ROWS // 2]):
        room = rooms[n % 3]
        services.ban_user(room=room, user=user, by=staff_user, reason="rude")
        services.mute_user(
            room=room, user=user, by=staff_user, until=timezone.now() + timedelta(hours=1)
        )
    services.issue_tokens(users=users)
    for n, message in enumerate(messages):
        services.report_message(message_id=message.pk, room=message.room, by=users[(n + 1) % ROWS])
    services.set_room_state(room=rooms[0], by=staff_user, is_locked=True, slow_mode_seconds=10)
    assert all(model.objects.count() >= 3 for model in MODELS)
    return {"rooms": rooms, "users": users, "messages": messages}


def changelist(model) -> str:
    return reverse(f"admin:chat_{model._meta.model_name}_changelist")


def change(obj) -> str:
    return reverse(f"admin:chat_{obj._meta.model_name}_change", args=[obj.pk])


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_changelist_renders_with_a_bounded_number_of_queries(
    client, moderator, data, model, django_assert_max_num_queries
):
    with django_assert_max_num_queries(10):
        response = client.get(changelist(model))

    assert response.status_code == 200
    shown = response.context["cl"].result_list
    assert len(shown) == min(model.objects.count(), 100)


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_change_page_renders_with_a_bounded_number_of_queries(
    client, moderator, data, model, django_assert_max_num_queries
):
    obj = model.objects.order_by("pk").last()

    with django_assert_max_num_queries(10):
        response = client.get(change(obj))

    assert response.status_code == 200
    assert response.context["original"].pk == obj.pk


@pytest.mark.parametrize("model", [Message, ModerationAction], ids=lambda m: m.__name__)
def test_big_tables_never_count_the_whole_table(client, moderator, data, model):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(changelist(model), {"q": "hello"} if model is Message else {})

    assert response.status_code == 200
    counts = [q["sql"] for q in queries if "COUNT(" in q["sql"].upper()]
    assert counts, "the changelist counts its rows"
    assert all("LIMIT" in sql.upper() for sql in counts), counts


def test_message_admin_has_no_hard_delete(client, moderator, data):
    response = client.get(changelist(Message))

    actions = dict(response.context["action_form"].fields["action"].choices)
    assert "delete_selected" not in actions
    assert {"delete_messages", "restore_messages"} <= set(actions)
    message = data["messages"][-1]
    assert client.post(reverse("admin:chat_message_delete", args=[message.pk])).status_code == 403
    assert Message.objects.filter(pk=message.pk).exists()


def post_action(client, model, action: str, objects, **fields):
    return client.post(
        changelist(model),
        {"action": action, ACTION_CHECKBOX_NAME: [o.pk for o in objects], "index": 0, **fields},
        follow=True,
    )


def test_delete_and_restore_actions_tombstone_through_the_service(client, moderator, data):
    targets = data["messages"][-3:]

    response = post_action(client, Message, "delete_messages", targets, reason="off topic")

    assert response.status_code == 200
    for message in targets:
        message.refresh_from_db()
        assert message.deleted_at is not None and message.deleted_by == moderator
    audit = ModerationAction.objects.filter(kind="delete", target_message__in=targets)
    assert sorted(audit.values_list("reason", flat=True)) == ["off topic"] * 3

    post_action(client, Message, "restore_messages", targets[:1])

    targets[0].refresh_from_db()
    assert targets[0].deleted_at is None
    assert ModerationAction.objects.filter(kind="restore", target_message=targets[0]).exists()


def test_room_actions_change_state_through_the_service(client, moderator, data):
    room = data["rooms"][1]

    post_action(client, Room, "lock", [room], reason="cool down")
    post_action(client, Room, "slow_mode_30s", [room])

    room.refresh_from_db()
    assert room.is_locked and room.slow_mode_seconds == 30
    changes = ModerationAction.objects.filter(kind="room", room=room).order_by("id")
    assert [a.details for a in changes] == [
        {"is_locked": [False, True]},
        {"slow_mode_seconds": [0, 30]},
    ]
    assert changes[0].reason == "cool down"

    post_action(client, Room, "archive", [room])
    room.refresh_from_db()
    assert room.is_archived


def test_room_change_form_sends_state_changes_through_the_service(client, moderator, data):
    room = data["rooms"][2]
    form = {
        "slug": room.slug,
        "title": "Renamed",
        "description": "",
        "slow_mode_seconds": 5,
        "is_locked": "on",
        "created_by": room.created_by_id,
    }

    response = client.post(change(room), form)

    assert response.status_code == 302, response.context["adminform"].form.errors
    room.refresh_from_db()
    assert (room.title, room.is_locked, room.slow_mode_seconds) == ("Renamed", True, 5)
    action = ModerationAction.objects.get(kind="room", room=room)
    assert action.actor == moderator
    assert action.details == {"is_locked": [False, True], "slow_mode_seconds": [0, 5]}


def test_room_has_no_hard_delete(client, moderator, data):
    room = data["rooms"][0]
    assert client.post(reverse("admin:chat_room_delete", args=[room.pk])).status_code == 403
    assert Room.objects.filter(pk=room.pk).exists()


def test_ban_added_in_the_admin_goes_through_the_service(client, moderator, data):
    room, user = data["rooms"][2], data["users"][-1]
    add = reverse("admin:chat_ban_add")

    response = client.post(
        add, {"room": room.pk, "user": user.pk, "until_0": "", "until_1": "", "reason": "trolling"}
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    ban = Ban.objects.get(room=room, user=user)
    assert (ban.reason, ban.created_by, ban.until) == ("trolling", moderator, None)
    assert ModerationAction.objects.filter(kind="ban", room=room, target_user=user).exists()


def test_mute_changed_in_the_admin_goes_through_the_service(client, moderator, data):
    mute = Mute.objects.order_by("pk").first()

    response = client.post(
        change(mute), {"until_0": "", "until_1": "", "reason": "until further notice"}
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    mute.refresh_from_db()
    assert (mute.until, mute.reason) == (None, "until further notice")
    assert ModerationAction.objects.filter(
        kind="mute", target_user=mute.user, reason="until further notice"
    ).exists()


def test_deleting_bans_in_the_admin_unbans_through_the_service(client, moderator, data):
    bans = list(Ban.objects.order_by("pk")[:2])

    client.post(reverse("admin:chat_ban_delete", args=[bans[0].pk]), {"post": "yes"})
    post_action(client, Ban, "delete_selected", bans[1:], post="yes")

    assert not Ban.objects.filter(pk__in=[b.pk for b in bans]).exists()
    assert ModerationAction.objects.filter(kind="unban").count() == 2


def test_deleting_a_mute_unmutes_through_the_service(client, moderator, data):
    mute = Mute.objects.order_by("pk").first()

    client.post(reverse("admin:chat_mute_delete", args=[mute.pk]), {"post": "yes"})

    assert not Mute.objects.filter(pk=mute.pk).exists()
    assert ModerationAction.objects.filter(kind="unmute", target_user=mute.user).exists()


def test_report_actions_resolve_through_the_service(client, moderator, data):
    open_reports = list(Report.objects.filter(status="open").order_by("pk"))
    deleted, banned, muted, dismissed = (open_reports[i] for i in (-1, -2, -3, -4))

    post_action(client, Report, "delete_message", [deleted], reason="spam")
    post_action(client, Report, "ban_author", [banned], reason="abuse", length=1440)
    post_action(client, Report, "mute_author", [muted])
    post_action(client, Report, "dismiss", [dismissed])

    for report, status in (
        (deleted, "deleted"),
        (banned, "banned"),
        (muted, "muted"),
        (dismissed, "dismissed"),
    ):
        report.refresh_from_db()
        assert (report.status, report.resolved_by) == (status, moderator)
    deleted.message.refresh_from_db()
    assert deleted.message.is_deleted
    ban = Ban.objects.get(room=banned.message.room, user=banned.message.author)
    assert ban.reason == "abuse" and ban.until > timezone.now() + timedelta(hours=23)
    assert Mute.objects.filter(room=muted.message.room, user=muted.message.author).exists()
    assert ModerationAction.objects.filter(kind="report").count() == 4


def test_token_revoke_action_goes_through_the_service(client, moderator, data):
    token = ApiToken.objects.order_by("pk").first()

    post_action(client, ApiToken, "revoke", [token])

    token.refresh_from_db()
    assert token.revoked_at is not None
    assert ModerationAction.objects.filter(kind="token", target_user=token.user).exists()


def test_the_audit_trail_is_read_only(client, moderator, data):
    action = ModerationAction.objects.order_by("pk").first()

    assert client.get(reverse("admin:chat_moderationaction_add")).status_code == 403
    assert client.post(change(action), {"reason": "rewritten"}).status_code == 403
    assert (
        client.post(
            reverse("admin:chat_moderationaction_delete", args=[action.pk]), {"post": "yes"}
        ).status_code
        == 403
    )
    action.refresh_from_db()
    assert action.reason != "rewritten"


# --- any user model, any user admin -------------------------------------------------------


@pytest.mark.parametrize("model", [Room, Ban])
def test_user_fields_autocomplete_only_when_the_hosts_user_admin_searches(
    rf, staff_user, monkeypatch, model
):
    from django.contrib import admin
    from django.contrib.auth import get_user_model

    chat_admin = admin.site._registry[model]
    request = rf.get("/")
    request.user = staff_user
    user_field = chat_admin.user_fields[0]
    assert user_field in chat_admin.get_autocomplete_fields(request)  # the demo's admin searches

    monkeypatch.setattr(admin.site._registry[get_user_model()], "search_fields", ())
    assert user_field not in chat_admin.get_autocomplete_fields(request)
    assert user_field in chat_admin.raw_id_fields

    monkeypatch.delitem(admin.site._registry, get_user_model())
    assert user_field not in chat_admin.get_autocomplete_fields(request)
    assert chat_admin.check() == []  # no admin.E039 whatever the host registers


def test_the_message_page_shows_its_edit_history_read_only(client, moderator, room, user):
    message = services.post_message(room=room, author=user, body="first draft").message
    services.edit_message(message=message, by=user, body="second draft")
    services.edit_message(message=message, by=user, body="final")

    response = client.get(change(message))

    assert response.status_code == 200
    page = response.content.decode()
    assert "Edit history" in page
    assert page.index("first draft") < page.index("second draft")
    formset = response.context["inline_admin_formsets"][0]  # the edit history, first
    assert not formset.has_add_permission and not formset.has_delete_permission
    assert not formset.has_change_permission

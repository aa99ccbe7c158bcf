"""Mute and ban lengths in the admin: presets (10 minutes … 1 week, until lifted) on the
add/change forms and in the report queue's action bar, the same ones as the room page;
and the chat's changelists carry their own stylesheet."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse
from django.utils import timezone

from chat import services
from chat.forms import SANCTION_PRESETS
from chat.models import Ban, Mute, Report

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, staff_user):
    staff_user.is_superuser = True
    staff_user.save()
    client.force_login(staff_user)
    return client


def close_to(moment, expected, slack=timedelta(seconds=30)) -> bool:
    return moment is not None and abs(moment - expected) < slack


@pytest.mark.parametrize(
    ("length", "minutes"), [("10", 10), ("60", 60), ("1440", 1440), ("10080", 10080)]
)
def test_a_preset_sets_the_mute_from_now(admin_client, room, other_user, length, minutes):
    response = admin_client.post(
        reverse("admin:chat_mute_add"),
        {"room": room.pk, "user": other_user.pk, "length": length, "reason": "calm down"},
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    mute = Mute.objects.get(room=room, user=other_user)
    assert close_to(mute.until, timezone.now() + timedelta(minutes=minutes))
    assert mute.reason == "calm down"


def test_until_lifted_clears_a_typed_date(admin_client, room, other_user, staff_user):
    services.ban_user(
        room=room, user=other_user, by=staff_user, until=timezone.now() + timedelta(hours=1)
    )
    ban = Ban.objects.get()
    later = timezone.now() + timedelta(days=3)
    response = admin_client.post(
        reverse("admin:chat_ban_change", args=[ban.pk]),
        {
            "length": "forever",
            "until_0": later.strftime("%Y-%m-%d"),
            "until_1": later.strftime("%H:%M:%S"),
            "reason": "for good",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    ban.refresh_from_db()
    assert (ban.until, ban.reason) == (None, "for good")


def test_the_date_below_is_kept_when_no_preset_is_chosen(admin_client, room, other_user):
    later = (timezone.now() + timedelta(days=3)).replace(second=0, microsecond=0)
    for length in ("exact", None):  # the form's default, and a POST without the field
        Ban.objects.all().delete()
        form = {
            "room": room.pk,
            "user": other_user.pk,
            "until_0": later.strftime("%Y-%m-%d"),
            "until_1": later.strftime("%H:%M:%S"),
        }
        if length:
            form["length"] = length
        response = admin_client.post(reverse("admin:chat_ban_add"), form)
        assert response.status_code == 302, response.context["adminform"].form.errors
        assert Ban.objects.get().until == later


def test_the_add_form_offers_the_presets_with_the_date_as_default(admin_client):
    page = admin_client.get(reverse("admin:chat_mute_add")).content.decode()
    assert '<option value="exact" selected>until the date below</option>' in page
    for _, label in SANCTION_PRESETS:
        assert f">{label}</option>" in page


def test_the_report_queue_mutes_for_a_preset(admin_client, room, user, other_user):
    message = services.post_message(room=room, author=other_user, body="spam").message
    services.report_message(message_id=message.pk, room=room, by=user, reason="spam")
    report = Report.objects.get()
    page = admin_client.get(reverse("admin:chat_report_changelist")).content.decode()
    assert '<select name="length"' in page
    admin_client.post(
        reverse("admin:chat_report_changelist"),
        {
            "action": "mute_author",
            ACTION_CHECKBOX_NAME: [report.pk],
            "index": 0,
            "reason": "spam",
            "length": "10",
        },
    )
    mute = Mute.objects.get(room=room, user=other_user)
    assert close_to(mute.until, timezone.now() + timedelta(minutes=10))


def test_the_room_page_offers_the_same_presets(admin_client, room):
    page = admin_client.get("/rooms/lobby/").content.decode()
    for minutes, label in SANCTION_PRESETS:
        assert f'<option value="{minutes}"' in page
        assert label.capitalize() in page
    assert '<option value="60" selected>1 hour</option>' in page


@pytest.mark.parametrize("model", ["room", "message", "report", "ban", "mute", "apitoken"])
def test_the_chats_changelists_load_their_stylesheet(admin_client, model):
    page = admin_client.get(reverse(f"admin:chat_{model}_changelist")).content.decode()
    assert "/static/chat/css/admin.css" in page

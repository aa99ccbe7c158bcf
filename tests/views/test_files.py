"""Files over HTTP: uploading (session + CSRF, or a token) and downloading, for whom, with
which headers; every refusal JSON with a code, and nothing stored."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from chat import services
from chat.models import Attachment
from chat.stores import history_cache
from tests.helpers.files import HTML, PDF, SVG, TEXT, image_bytes

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root", "embedded")]


@pytest.fixture(autouse=True)
def fresh_cache():
    history_cache.reset()
    yield
    history_cache.reset()


@pytest.fixture
def client():
    return Client(enforce_csrf_checks=True)


def bearer(user):
    return {"HTTP_AUTHORIZATION": f"Bearer {services.issue_token(user=user)}"}


def upload(client, data: bytes, name: str = "a.png", slug: str = "lobby", **extra):
    return client.post(
        f"/api/rooms/{slug}/files", {"file": SimpleUploadedFile(name, data)}, **extra
    )


def stored(media_root) -> int:
    return sum(1 for p in media_root.rglob("*") if p.is_file())


def send(user, room, *ids, body=""):
    return services.post_message(room=room, author=user, body=body, files=ids).message


# --- upload --------------------------------------------------------------------------


def test_upload_with_a_token_answers_the_files_entry(client, room, user):
    response = upload(client, image_bytes("PNG", (40, 30)), "pic.png", **bearer(user))
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["type"], body["name"], body["width"], body["height"]) == (
        "image/png",
        "pic.png",
        40,
        30,
    )
    assert body["url"] == f"/files/{body['id']}/pic.png"
    assert body["thumbnail_url"] == f"/files/{body['id']}/thumb"


def test_upload_with_a_session_needs_the_csrf_token(client, room, user, media_root):
    client.force_login(user)
    refused = upload(client, TEXT, "a.txt")
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    page = client.get("/rooms/lobby/")
    token = page.cookies["csrftoken"].value
    accepted = upload(client, TEXT, "a.txt", HTTP_X_CSRFTOKEN=token)
    assert accepted.status_code == 201
    assert accepted.json()["type"] == "text/plain"
    assert Attachment.objects.count() == 1


@pytest.mark.parametrize(
    ("data", "name"), [(HTML, "cat.png"), (SVG, "logo.svg"), (b"MZ\x90\x00", "setup.exe")]
)
def test_a_disguised_or_unlisted_file_is_415_and_nothing_is_stored(
    client, room, user, media_root, data, name
):
    response = upload(client, data, name, **bearer(user))
    assert response.status_code == 415
    assert response.json()["error"] == "unsupported_file"
    assert not Attachment.objects.exists() and stored(media_root) == 0


def test_oversize_is_413_and_nothing_is_stored(client, room, user, settings, media_root):
    settings.CHAT_MAX_UPLOAD_BYTES = 1000
    response = upload(client, TEXT * 100, "big.txt", **bearer(user))
    assert response.status_code == 413
    assert response.json()["error"] == "too_large"
    assert not Attachment.objects.exists() and stored(media_root) == 0


def test_a_declared_length_far_over_the_limit_is_413_before_parsing(client, room, user, settings):
    settings.CHAT_MAX_UPLOAD_BYTES = 1000
    response = upload(client, TEXT * 4000, "big.txt", **bearer(user))
    assert response.status_code == 413 and response.json()["error"] == "too_large"


def test_over_quota_is_413_quota_exceeded(client, room, user, settings):
    settings.CHAT_UPLOAD_QUOTA_BYTES = len(TEXT)
    assert upload(client, TEXT, "1.txt", **bearer(user)).status_code == 201
    response = upload(client, TEXT, "2.txt", **bearer(user))
    assert response.status_code == 413 and response.json()["error"] == "quota_exceeded"


def test_too_many_uploads_is_429_with_retry_after(client, room, user, settings):
    settings.CHAT_UPLOAD_RATE = "1/m"
    assert upload(client, TEXT, "1.txt", **bearer(user)).status_code == 201
    response = upload(client, TEXT, "2.txt", **bearer(user))
    assert response.status_code == 429 and int(response["Retry-After"]) >= 1


def test_no_file_field_is_400(client, room, user):
    response = client.post("/api/rooms/lobby/files", {"other": "x"}, **bearer(user))
    assert response.status_code == 400 and response.json()["error"] == "bad_request"


def test_anonymous_upload_is_401(client, room):
    assert upload(client, TEXT, "a.txt").status_code == 401


@pytest.mark.parametrize(
    ("slug", "status"), [("secret", 403), ("nowhere", 404), ("old", 410), ("quiet", 403)]
)
def test_upload_where_the_user_may_not_write_is_refused(
    client, make_room, other_user, user, media_root, slug, status
):
    make_room("secret", is_private=True)
    make_room("old", is_archived=True)
    make_room("quiet", is_locked=True)
    response = upload(client, TEXT, "a.txt", slug=slug, **bearer(other_user))
    assert response.status_code == status
    assert not Attachment.objects.exists() and stored(media_root) == 0


# --- download ------------------------------------------------------------------------


async def _read(response) -> bytes:
    return b"".join([chunk async for chunk in response.streaming_content])


def get(client, url, **extra):
    response = client.get(url, **extra)
    # The view streams with an async iterator (as daphne serves it); read it that way.
    body = async_to_sync(_read)(response) if response.streaming else response.content
    return response, body


def test_an_image_is_served_inline_with_nosniff_and_a_sandbox(client, room, user, other_user):
    data = image_bytes("PNG", (40, 30))
    file = upload(client, data, "pic.png", **bearer(user)).json()
    send(user, room, file["id"])
    client.force_login(other_user)
    response, body = get(client, file["url"])
    assert response.status_code == 200 and body == data
    assert response["Content-Type"] == "image/png"
    assert response["Content-Disposition"].startswith("inline")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response["Content-Security-Policy"]
    assert response["Content-Length"] == str(len(data))
    thumb, thumb_body = get(client, file["thumbnail_url"])
    assert thumb.status_code == 200 and thumb["Content-Type"] == "image/jpeg"
    assert thumb_body.startswith(b"\xff\xd8")


@pytest.mark.parametrize(
    ("data", "name", "content_type"),
    [(PDF, "doc.pdf", "application/pdf"), (TEXT, "notes.txt", "text/plain; charset=utf-8")],
)
def test_other_files_are_downloads_only(client, room, user, data, name, content_type):
    file = upload(client, data, name, **bearer(user)).json()
    send(user, room, file["id"])
    response, body = get(client, file["url"], **bearer(user))
    assert response.status_code == 200 and body == data
    assert response["Content-Type"] == content_type
    assert response["Content-Disposition"] == f'attachment; filename="{name}"'
    assert response["X-Content-Type-Options"] == "nosniff"
    assert get(client, f"/files/{file['id']}/thumb", **bearer(user))[0].status_code == 404


def test_a_non_member_gets_404_for_a_private_rooms_file(
    client, make_room, user, other_user, make_user
):
    secret = make_room("secret", is_private=True)
    secret.members.add(user, other_user)
    file = upload(client, image_bytes(), "p.png", slug="secret", **bearer(user)).json()
    send(user, secret, file["id"])
    outsider = make_user("carol")
    for url in (file["url"], file["thumbnail_url"]):
        assert get(client, url, **bearer(outsider))[0].status_code == 404
        assert get(client, url, **bearer(other_user))[0].status_code == 200
    assert get(client, file["url"])[0].status_code == 401  # no one signed in


def test_an_unsent_upload_is_seen_by_its_uploader_only(client, room, user, other_user):
    file = upload(client, TEXT, "draft.txt", **bearer(user)).json()
    assert get(client, file["url"], **bearer(user))[0].status_code == 200
    assert get(client, file["url"], **bearer(other_user))[0].status_code == 404


def test_a_deleted_messages_files_are_gone(client, room, user, staff_user):
    file = upload(client, image_bytes(), "p.png", **bearer(user)).json()
    message = send(user, room, file["id"], body="look")
    services.delete_message(message=message, by=staff_user)
    for url in (file["url"], file["thumbnail_url"]):
        response = get(client, url, **bearer(user))[0]
        assert response.status_code == 410 and response.json()["error"] == "message_deleted"
    services.restore_message(message=message, by=staff_user)
    assert get(client, file["url"], **bearer(user))[0].status_code == 200


def test_a_banned_user_may_no_longer_download(client, room, user, other_user, staff_user):
    file = upload(client, TEXT, "a.txt", **bearer(user)).json()
    send(user, room, file["id"])
    services.ban_user(room=room, user=other_user, by=staff_user)
    assert get(client, file["url"], **bearer(other_user))[0].status_code == 404


def test_unknown_file_is_404(client, room, user):
    assert get(client, "/files/999/x.txt", **bearer(user))[0].status_code == 404


def test_an_oversize_body_is_refused_without_being_parsed(
    client, room, user, settings, monkeypatch
):
    from django.http.multipartparser import MultiPartParser

    settings.CHAT_MAX_UPLOAD_BYTES = 1000

    def never(*args, **kwargs):
        raise AssertionError("the oversize body was parsed")

    monkeypatch.setattr(MultiPartParser, "parse", never)
    response = upload(client, TEXT * 4000, "big.txt", **bearer(user))
    assert response.status_code == 413 and response.json()["error"] == "too_large"

"""Files through a real daphne (``python -m chatsite.serve``): upload, streamed download,
and both 413s — the chat's own limit and the server's body limit — as JSON."""

from __future__ import annotations

import http.client
import json
import uuid
from urllib.parse import urlsplit

import pytest

from chat import services
from tests.helpers.files import TEXT, image_bytes
from tests.helpers.processes import DaphneServer

pytestmark = [
    pytest.mark.processes,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(60),
]


def request(server, method, path, token, body=b"", headers=None):
    parts = urlsplit(server.url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        connection.request(
            method, path, body=body, headers={"Authorization": f"Bearer {token}", **(headers or {})}
        )
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def multipart(name: str, data: bytes) -> tuple[bytes, dict[str, str]]:
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def test_upload_download_and_both_413s(live_env, room, user, tmp_path):
    token = services.issue_token(user=user)
    env = live_env | {
        "MEDIA_ROOT": str(tmp_path / "media"),
        "CHAT_MAX_UPLOAD_BYTES": "5000",
        "CHAT_MAX_REQUEST_BYTES": "100000",
    }
    with DaphneServer(env) as server:
        picture = image_bytes("PNG", (30, 20))
        body, headers = multipart("pic.png", picture)
        status, _, answer = request(server, "POST", "/api/rooms/lobby/files", token, body, headers)
        assert status == 201, answer
        file = json.loads(answer)
        status, got, data = request(server, "GET", file["url"], token)
        assert status == 200 and data == picture
        assert got["Content-Length"] == str(len(picture)) and got["Content-Type"] == "image/png"
        assert got["X-Content-Type-Options"] == "nosniff"

        # Over the chat's upload limit: refused by the view, nothing stored.
        body, headers = multipart("big.txt", TEXT * 300)
        status, _, answer = request(server, "POST", "/api/rooms/lobby/files", token, body, headers)
        assert status == 413 and json.loads(answer)["error"] == "too_large"

        # Over the server's body limit: refused by chat.serve before the body is read.
        body, headers = multipart("huge.txt", b"x" * 200_000)
        status, _, answer = request(server, "POST", "/api/rooms/lobby/files", token, body, headers)
        assert status == 413 and json.loads(answer)["error"] == "too_large"
    stored = sorted(p.name for p in (tmp_path / "media").rglob("*") if p.is_file())
    assert len(stored) == 2  # the picture and its thumbnail only

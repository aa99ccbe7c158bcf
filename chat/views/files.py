"""Files over HTTP: ``POST api/rooms/<slug>/files`` uploads, ``GET files/<id>/<name>``
(and ``files/<id>/thumb``) downloads.

Uploads take the session (with its CSRF token, as the room page sends it) or a
bearer token; errors are JSON like the rest of the API. Downloads check, on every
request, that the user may read the file's room and that its message is not deleted;
an unknown file and a file the user may not read get the same 404, so ids reveal
nothing. What is served never runs in the site's origin: ``nosniff``, a sandboxing
Content-Security-Policy, and ``inline`` only for raster images (anything else is a
download).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from asgiref.sync import sync_to_async
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.utils.http import content_disposition_header
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST, require_safe

from chat import attachments, file_types, selectors
from chat.conf import MULTIPART_SLACK, chat_settings
from chat.views.api import error, refusal_response, request_user
from chat.wire.errors import ChatError, CloseCode, ErrorCode, Refusal

logger = logging.getLogger(__name__)

CHUNK_BYTES = 64 * 1024
# Every served file: never sniffed, never run as a page, never embedded elsewhere.
FILE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cache-Control": "private, max-age=3600",
    "Vary": "Cookie, Authorization",
}
STATUS = {
    ErrorCode.TOO_LARGE: 413,
    ErrorCode.QUOTA_EXCEEDED: 413,
    ErrorCode.UNSUPPORTED_FILE: 415,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.BAD_REQUEST: 400,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.MESSAGE_DELETED: 410,
}


def chat_error_response(exc: ChatError) -> JsonResponse:
    """The JSON answer for a refused upload or download."""
    response = error(STATUS.get(exc.code, 403), exc.code, exc.detail)
    if exc.retry_after is not None:
        response["Retry-After"] = str(max(1, round(exc.retry_after)))
    return response


# --- POST api/rooms/<slug>/files ------------------------------------------------------


# A bearer token needs no CSRF check (no cookie to forge); the session path checks it below.
@csrf_exempt
@never_cache
@require_POST
async def upload(request: HttpRequest, slug: str) -> HttpResponse:
    """Store the multipart field ``file`` as an unsent upload; 201 with its ``files`` entry.

    The database steps run on the database thread; reading the image and writing
    the storage (``attachments.keep``) run beside it, so an upload never holds up the
    room's messages.
    """
    try:
        user = await request_user(request)
        room, uploaded = await sync_to_async(_accept)(request, user, slug)
        try:
            kept = await sync_to_async(attachments.keep, thread_sensitive=False)(
                room_id=room.pk, file=uploaded
            )
            attachment = await sync_to_async(attachments.record)(
                room=room, user=user, kept=kept, name=uploaded.name, size=uploaded.size
            )
        finally:
            uploaded.close()
        return JsonResponse(await sync_to_async(selectors.file_payload)(attachment), status=201)
    except CsrfRefused:
        return error(403, ErrorCode.FORBIDDEN, "CSRF check failed; reload the page")
    except Refusal as refusal:
        return refusal_response(refusal)
    except ChatError as exc:
        return chat_error_response(exc)


class CsrfRefused(Exception):
    """A session upload without a valid CSRF token."""


def _accept(request: HttpRequest, user, slug: str):
    """The room and the uploaded file, once everything that needs no reading of the
    file allows it (``attachments.check``)."""
    limit = chat_settings().max_upload_bytes
    # Refused on the declared length before the body is parsed (chat.middleware's text
    # check leaves such a body alone too).
    if int(request.META.get("CONTENT_LENGTH") or 0) > limit + MULTIPART_SLACK:
        raise attachments.too_large(limit)
    if not user.is_authenticated:
        raise Refusal(CloseCode.NOT_AUTHENTICATED)
    session = "Authorization" not in request.headers
    if session and CsrfViewMiddleware(lambda _: HttpResponse()).process_view(request, None, (), {}):
        raise CsrfRefused
    room = selectors.room_for_user(slug=slug, user=user)
    uploaded = request.FILES.get("file")
    if uploaded is None:
        raise ChatError(ErrorCode.BAD_REQUEST, "send the file as the multipart field 'file'")
    try:
        attachments.check(room=room, user=user, size=uploaded.size)
    except BaseException:
        uploaded.close()
        raise
    return room, uploaded


# --- GET files/<id>/<name> and files/<id>/thumb --------------------------------------


@require_safe
async def download(request: HttpRequest, file_id: int, name: str = "") -> HttpResponse:
    """The file, streamed, to someone who may read its room."""
    return await _serve(request, file_id, thumbnail=False)


@require_safe
async def thumbnail(request: HttpRequest, file_id: int) -> HttpResponse:
    """An image's thumbnail, with the same checks as the file."""
    return await _serve(request, file_id, thumbnail=True)


async def _serve(request: HttpRequest, file_id: int, *, thumbnail: bool) -> HttpResponse:
    try:
        user = await request_user(request)
        attachment = await sync_to_async(selectors.readable_attachment)(file_id=file_id, user=user)
    except Refusal as refusal:
        if refusal.close_code == CloseCode.NOT_AUTHENTICATED:
            return refusal_response(refusal)
        # Not "forbidden": whether a private room holds file N is not the asker's business.
        return error(404, ErrorCode.NOT_FOUND, "no such file")
    except ChatError as exc:
        return chat_error_response(exc)
    if thumbnail and not attachment.thumbnail_name:
        return error(404, ErrorCode.NOT_FOUND, "this file has no thumbnail")
    try:
        opened = await sync_to_async(attachments.open_file, thread_sensitive=False)(
            attachment, thumbnail=thumbnail
        )
        size = await sync_to_async(lambda: opened.size, thread_sensitive=False)()
    except OSError as exc:
        logger.warning("stored file missing file=%s: %r", attachment.pk, exc)
        return error(404, ErrorCode.NOT_FOUND, "the stored file is missing")
    if thumbnail:
        content_type = "image/png" if attachment.thumbnail_name.endswith(".png") else "image/jpeg"
    else:
        content_type = attachment.content_type
    inline = file_types.is_inline(content_type)
    response = StreamingHttpResponse(
        _chunks(opened),
        content_type=content_type + ("; charset=utf-8" if content_type == "text/plain" else ""),
    )
    response["Content-Length"] = str(size)
    response["Content-Disposition"] = content_disposition_header(
        as_attachment=not inline, filename=attachment.name
    )
    for header, value in FILE_HEADERS.items():
        response[header] = value
    return response


async def _chunks(opened) -> AsyncIterator[bytes]:
    # An async iterator: Django would read a sync one into memory whole under ASGI.
    try:
        while chunk := await sync_to_async(opened.read, thread_sensitive=False)(CHUNK_BYTES):
            yield chunk
    finally:
        await sync_to_async(opened.close, thread_sensitive=False)()

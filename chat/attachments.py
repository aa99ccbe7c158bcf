"""Files in rooms: storing an upload, opening it for download, deleting it.

An upload is checked completely before a byte is stored: the writer's right to
write in the room, the size (``CHAT_MAX_UPLOAD_BYTES``), the user's upload rate
(``CHAT_UPLOAD_RATE``) and quota (``CHAT_UPLOAD_QUOTA_BYTES``), the type by content
(``chat.file_types``), and for images a thumbnail made in memory. Only then do the
file and its thumbnail go to the storage ``CHAT_FILE_STORAGE`` names, under random
names; a failure after that removes them again. The quota is checked twice: early,
before the file is read, and again when its row is written, under a lock on the
user's row, so uploads at the same moment cannot together pass it. Sending (``services.post_messages``)
attaches uploads to a message; nothing here publishes anything.
"""

from __future__ import annotations

import io
import logging
import math
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import BinaryIO

from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile, File
from django.core.files.storage import Storage, storages
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from PIL import Image, ImageOps
from redis.exceptions import RedisError

from chat import file_types, services
from chat.conf import chat_settings
from chat.models import Attachment, Room
from chat.stores.sliding_window import shared_windows
from chat.wire.errors import ChatError, ErrorCode

logger = logging.getLogger(__name__)

THUMBNAIL_SIZE = (400, 400)
MAX_NAME_LENGTH = 120
RATE_PREFIX = "chat:v1:upload"
FILES_DIR = "chat/files"
# The extensions a download may keep for each type; any other gets the type's own
# appended, so a text file named "page.html" is saved as "page.html.txt" and never
# opens as a web page from the downloads folder.
KEPT_EXTENSIONS = {
    "image/png": {"png"},
    "image/jpeg": {"jpg", "jpeg"},
    "image/gif": {"gif"},
    "image/webp": {"webp"},
    "application/pdf": {"pdf"},
    "application/zip": {"zip"},
    "text/plain": {"txt", "md", "csv", "tsv", "log", "json", "yaml", "yml", "diff", "patch"},
}


def storage() -> Storage:
    """The storage files live in: the ``STORAGES`` alias ``CHAT_FILE_STORAGE`` names."""
    return storages[chat_settings().file_storage]


def clean_name(name: str | None, extension: str, content_type: str) -> str:
    """A file name safe to show and to offer on download.

    The last path part only, no control or direction-changing characters, no leading
    dots, at most ``MAX_NAME_LENGTH`` characters, and an extension that matches the
    detected type (see ``KEPT_EXTENSIONS``).
    """
    name = unicodedata.normalize("NFC", name or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if unicodedata.category(c)[0] not in "CZ" or c == " ")
    name = name.strip().lstrip(".").strip() or "file"
    stem, dot, ext = name.rpartition(".")
    if not dot or ext.lower() not in KEPT_EXTENSIONS.get(content_type, ()):
        stem, ext = name, extension
    stem = stem[: MAX_NAME_LENGTH - len(ext) - 1].rstrip() or "file"
    return f"{stem}.{ext}"


def upload(*, room: Room, user, file: BinaryIO, name: str | None, size: int) -> Attachment:
    """Store ``file`` (``size`` bytes) as ``user``'s unsent upload in ``room``.

    The caller has checked that ``user`` may read ``room``. Raises ``ChatError`` and
    stores nothing when they may not write there (the posting rules of
    ``services.write_refusal``), or with ``too_large``, ``rate_limited``,
    ``quota_exceeded`` or ``unsupported_file``. The three steps are public so that
    an async caller can run the middle one (no database; Pillow and storage I/O)
    away from the database thread: ``check``, ``keep``, ``record``.
    """
    check(room=room, user=user, size=size)
    return record(room=room, user=user, kept=keep(room_id=room.pk, file=file), name=name, size=size)


def check(*, room: Room, user, size: int) -> None:
    """Refuse an upload before reading it: the posting rules, the size, the user's
    upload rate (this counts one) and quota."""
    settings = chat_settings()
    refusal = services.write_refusal(room=room, user=user)
    if refusal is not None:
        raise refusal
    if size > settings.max_upload_bytes:
        raise too_large(settings.max_upload_bytes)
    _check_rate(user.pk)
    _check_quota(user, size)


@dataclass(frozen=True, slots=True)
class Kept:
    """A checked file and its thumbnail, in the storage, not yet in the database."""

    detected: file_types.Detected
    storage_name: str
    thumbnail_name: str
    width: int | None
    height: int | None


def keep(*, room_id: int, file: BinaryIO) -> Kept:
    """Check ``file``'s type by content, make its thumbnail, then store both.

    No database access. Raises ``unsupported_file`` with nothing stored.
    """
    detected = file_types.detect(file)
    thumbnail = _thumbnail(file, detected) if detected.is_image else None
    where = storage()
    base = f"{FILES_DIR}/{room_id}/{secrets.token_urlsafe(18)}"
    saved: list[str] = []
    try:
        file.seek(0)
        saved.append(where.save(f"{base}.{detected.extension}", File(file)))
        width, height = detected.width, detected.height
        if thumbnail is not None:
            data, extension, width, height = thumbnail
            saved.append(where.save(f"{base}.thumb.{extension}", ContentFile(data)))
    except BaseException:
        _remove(saved)  # a failed upload leaves nothing stored
        raise
    return Kept(detected, saved[0], saved[1] if thumbnail else "", width, height)


def record(*, room: Room, user, kept: Kept, name: str | None, size: int) -> Attachment:
    """The database row for a kept file; if it cannot be written, the stored files go.

    Raises ``quota_exceeded`` (files removed) when uploads that passed ``check`` at the
    same moment have filled the quota meanwhile.
    """
    detected = kept.detected
    try:
        with transaction.atomic():
            _claim_quota(user, size)
            attachment = Attachment.objects.create(
                room=room,
                uploader=user,
                storage_name=kept.storage_name,
                name=clean_name(name, detected.extension, detected.content_type),
                content_type=detected.content_type,
                size=size,
                width=kept.width,
                height=kept.height,
                thumbnail_name=kept.thumbnail_name,
            )
    except BaseException:
        _remove([n for n in (kept.storage_name, kept.thumbnail_name) if n])
        raise
    logger.info(
        "file uploaded room=%s user=%s file=%s type=%s size=%s",
        room.pk,
        user.pk,
        attachment.pk,
        attachment.content_type,
        size,
    )
    return attachment


def too_large(limit: int) -> ChatError:
    return ChatError(
        ErrorCode.TOO_LARGE, f"the file is larger than the limit of {_megabytes(limit)}"
    )


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MiB" if size >= 1024 * 1024 else f"{size} bytes"


def _check_rate(user_id: int) -> None:
    rate = chat_settings().upload_rate
    if rate is None:
        return
    try:
        wait = shared_windows().hit(
            f"{RATE_PREFIX}:{user_id}", limit=rate.count, period=rate.period
        )
    except (RedisError, OSError) as exc:
        # Uploading must not depend on Redis; the quota still bounds what is stored.
        logger.warning("upload rate limit unavailable user=%s: %r", user_id, exc)
        return
    if wait is not None:
        raise ChatError(
            ErrorCode.RATE_LIMITED,
            f"too many uploads; try again in {math.ceil(wait)} s",
            retry_after=wait,
        )


def used_bytes(user) -> int:
    """What ``user``'s stored files take up (what counts against the quota)."""
    return Attachment.objects.filter(uploader=user).aggregate(total=Sum("size"))["total"] or 0


def _claim_quota(user, size: int) -> None:
    """``_check_quota`` that holds: call in the transaction that writes the row.

    The user's row lock (``FOR UPDATE``; SQLite's write transactions are serial
    already) makes a user's uploads count and write one after another, so the sum
    each one reads includes every upload committed before it.
    """
    if not chat_settings().upload_quota_bytes:
        return
    list(get_user_model().objects.select_for_update().filter(pk=user.pk).values_list("pk"))
    _check_quota(user, size)


def _check_quota(user, size: int) -> None:
    quota = chat_settings().upload_quota_bytes
    if not quota:
        return
    used = used_bytes(user)
    if used + size > quota:
        raise ChatError(
            ErrorCode.QUOTA_EXCEEDED,
            f"your files take up {_megabytes(used)} of your {_megabytes(quota)};"
            " this one does not fit",
        )


def _thumbnail(file: BinaryIO, detected: file_types.Detected) -> tuple[bytes, str, int, int]:
    """The thumbnail's bytes and extension, and the picture's size as shown (EXIF
    orientation applied). A picture Pillow cannot draw is refused."""
    try:
        file.seek(0)
        with Image.open(file) as original:
            image = ImageOps.exif_transpose(original)
            width, height = image.size
            image.thumbnail(THUMBNAIL_SIZE)
            transparent = image.mode in ("RGBA", "LA", "PA") or (
                image.mode == "P" and "transparency" in image.info
            )
            out = io.BytesIO()
            if transparent:
                image.convert("RGBA").save(out, "PNG", optimize=True)
                extension = "png"
            else:
                image.convert("RGB").save(out, "JPEG", quality=85)
                extension = "jpg"
    except (OSError, ValueError, SyntaxError) as exc:
        raise file_types.refused(f"the image could not be read ({type(exc).__name__})") from None
    finally:
        file.seek(0)
    return out.getvalue(), extension, width, height


def _remove(names: list[str]) -> None:
    where = storage()
    for name in names:
        try:
            where.delete(name)
        except Exception as exc:  # noqa: BLE001 - an orphan file is logged, never fatal
            logger.warning("stored file not removed name=%s: %r", name, exc)


def open_file(attachment: Attachment, *, thumbnail: bool = False) -> File:
    """The stored file (or its thumbnail), opened for reading; the caller closes it."""
    return storage().open(attachment.thumbnail_name if thumbnail else attachment.storage_name, "rb")


def delete_files(attachments) -> int:
    """Delete attachments (a queryset or list) and, after commit, their stored files."""
    attachments = list(attachments)
    names = [n for a in attachments for n in (a.storage_name, a.thumbnail_name) if n]
    Attachment.objects.filter(pk__in=[a.pk for a in attachments]).delete()
    transaction.on_commit(lambda: _remove(names))
    return len(attachments)


def delete_unsent(*, older_than: datetime | None = None) -> int:
    """Delete uploads never sent with a message, made before ``older_than`` (default:
    a day ago), and their stored files; how many."""
    cutoff = older_than or timezone.now() - timedelta(days=1)
    with transaction.atomic():
        return delete_files(Attachment.objects.filter(message__isnull=True, created_at__lt=cutoff))


def orphans() -> list[str]:
    """Stored names under the chat's directory that no attachment row names (left by a
    room or user deleted outright)."""
    where = storage()
    known = set(Attachment.objects.values_list("storage_name", flat=True))
    known |= set(Attachment.objects.values_list("thumbnail_name", flat=True))
    found = []
    try:
        rooms, _ = where.listdir(FILES_DIR)
    except (FileNotFoundError, NotImplementedError):
        return []
    for room in rooms:
        _, names = where.listdir(f"{FILES_DIR}/{room}")
        found += [f"{FILES_DIR}/{room}/{name}" for name in names]
    return sorted(name for name in found if name not in known)


def remove_stored(names: list[str]) -> None:
    """Delete stored files by name (orphans); failures are logged."""
    _remove(names)

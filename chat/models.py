"""The chat's data: rooms, messages, sanctions, API tokens, reports and the audit trail.

Invariants live in constraints, not in ``save()``: a room's ``seq`` is unique, and a
client's ``client_id`` is unique per author and room. Behaviour lives in
``chat.services``.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class Room(models.Model):
    class Kind(models.TextChoices):
        ROOM = "room", "room"
        DM = "dm", "direct messages"

    slug = models.SlugField(max_length=50, unique=True)
    title = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    is_private = models.BooleanField(default=False, help_text="Only members may join.")
    # A direct-message conversation (chat.direct) is a private room of its members,
    # never listed in the lobby; staff who open one are recorded (``dm_view``).
    kind = models.CharField(
        max_length=4, choices=Kind.choices, default=Kind.ROOM, db_default=Kind.ROOM
    )
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="chat_memberships"
    )
    moderators = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="chat_moderated_rooms",
        help_text="May delete messages, ban and mute in this room without being staff.",
    )
    is_locked = models.BooleanField(default=False, help_text="Read-only for non-moderators.")
    slow_mode_seconds = models.PositiveIntegerField(
        default=0, help_text="Per-user cooldown between messages; 0 disables."
    )
    is_archived = models.BooleanField(default=False, help_text="Closed, hidden, history kept.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    # The seq of the last committed message. Incremented under the row lock by
    # services.post_messages, which makes seq gapless and in commit order.
    last_seq = models.BigIntegerField(default=0, editable=False)
    last_message_at = models.DateTimeField(null=True, blank=True, editable=False)
    # The number of the last change (edit, deletion, restore, reaction) to the room's
    # messages: a second gapless counter, bumped under the same row lock, so a client
    # reconnecting with ``changes=C`` is replayed every change after C (see RoomChange).
    last_change = models.BigIntegerField(default=0, db_default=0, editable=False)
    # A group DM's people, as chat.direct.group_key: one open (not archived) group DM per
    # set of people, however many of them open it at once. Empty for other rooms.
    dm_key = models.CharField(max_length=64, null=True, blank=True, editable=False)

    class Meta:
        ordering = ["slug"]
        constraints = [
            models.UniqueConstraint(
                fields=["dm_key"],
                condition=models.Q(is_archived=False),
                name="chat_room_one_open_group_dm",
            )
        ]

    def __str__(self) -> str:
        return self.slug


class Message(models.Model):
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="messages")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_messages"
    )
    body = models.TextField()
    seq = models.BigIntegerField()
    client_id = models.CharField(max_length=64, null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False, db_index=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    deleted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    edited_at = models.DateTimeField(null=True, blank=True, editable=False)
    reply_to = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="replies"
    )
    # ``@room``: every reader of the room is mentioned (moderators only).
    mentions_room = models.BooleanField(default=False, db_default=False, editable=False)
    mentions = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        through="Mention",
        blank=True,
        related_name="chat_mentioned_in",
    )

    class Meta:
        ordering = ["room", "seq"]
        constraints = [
            # Also the index that makes "room R, seq in a range" a range scan.
            models.UniqueConstraint(fields=["room", "seq"], name="chat_message_room_seq"),
            models.UniqueConstraint(
                fields=["room", "author", "client_id"],
                condition=Q(client_id__isnull=False),
                name="chat_message_client_id",
            ),
        ]
        indexes = [
            # Slow mode: the author's latest message in a room.
            models.Index(fields=["author", "room", "-seq"], name="chat_msg_author_room"),
            # Search by date: the first and last id sent in a time range, from the
            # index alone (chat.search turns a date range into an id range).
            models.Index(fields=["created_at", "id"], name="chat_msg_created_id"),
        ]

    def __str__(self) -> str:
        return f"{self.room_id}#{self.seq}"

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None


class Mention(models.Model):
    """``@username`` in a message: a reference to the user, counted in their sidebar.

    ``room`` and ``seq`` are copied from the message so "mentions of me in room R after
    my read position" is one index range, without a join.
    """

    message = models.ForeignKey(Message, on_delete=models.CASCADE)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="+")
    seq = models.BigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["message", "user"], name="chat_mention_once")
        ]
        indexes = [models.Index(fields=["user", "room", "seq"], name="chat_mention_user")]

    def __str__(self) -> str:
        return f"@{self.user} in {self.message}"


class Attachment(models.Model):
    """A file uploaded to a room: unsent (``message`` empty, seen by its uploader only)
    until a message of the uploader carries it, then readable by whoever reads the room.

    The bytes live in the storage named by ``CHAT_FILE_STORAGE`` under
    ``storage_name`` (a random name, never the uploader's); ``name`` is the sanitised
    original name, shown and offered on download. ``content_type`` was detected from
    the content (``chat.file_types``), never taken from the client.
    """

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="attachments")
    uploader = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_attachments"
    )
    message = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="attachments"
    )
    storage_name = models.CharField(max_length=255, editable=False)
    name = models.CharField(max_length=255)
    content_type = models.CharField(max_length=100, editable=False)
    size = models.BigIntegerField(editable=False)
    width = models.PositiveIntegerField(null=True, blank=True, editable=False)
    height = models.PositiveIntegerField(null=True, blank=True, editable=False)
    thumbnail_name = models.CharField(max_length=255, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # Quota (sum per uploader) and cleanup of never-sent uploads.
            models.Index(fields=["uploader", "created_at"], name="chat_attachment_uploader"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.size} bytes) in {self.room_id}"

    @property
    def is_image(self) -> bool:
        return bool(self.thumbnail_name)


class MessageRevision(models.Model):
    """A message's text before an edit; moderators see the history in the admin."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="revisions")
    body = models.TextField()
    # When this text was replaced, and by whom (the author).
    replaced_at = models.DateTimeField(default=timezone.now, editable=False)
    replaced_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["message", "replaced_at"]

    def __str__(self) -> str:
        return f"{self.message} before {self.replaced_at:%Y-%m-%d %H:%M:%S}"


class Reaction(models.Model):
    """One user's emoji on one message, from the fixed set in ``chat.conf.REACTIONS``."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="reactions")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    emoji = models.CharField(max_length=16)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["message", "created_at"]
        constraints = [
            models.UniqueConstraint(fields=["message", "user", "emoji"], name="chat_reaction_once")
        ]

    def __str__(self) -> str:
        return f"{self.emoji} by {self.user} on {self.message}"


class RoomChange(models.Model):
    """A change to a stored message, with its place in the room's order of changes.

    Messages keep their gapless ``seq``; changes get their own gapless ``number`` per
    room (``Room.last_change``) and remember ``after_seq``, the room's last message
    when they happened. A reconnect with ``since=S&changes=C`` replays every change
    numbered above C (the message's current state, once per message); one with only
    ``since=S`` replays the changes made since message S (``after_seq >= S``).
    """

    class Kind(models.TextChoices):
        EDIT = "edit"
        DELETE = "delete"
        RESTORE = "restore"
        REACT = "react", "reaction"

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="changes")
    number = models.BigIntegerField()
    after_seq = models.BigIntegerField()
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="changes")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["room", "number"]
        constraints = [
            models.UniqueConstraint(fields=["room", "number"], name="chat_change_room_number")
        ]
        indexes = [models.Index(fields=["room", "after_seq"], name="chat_change_after_seq")]

    def __str__(self) -> str:
        return f"{self.room_id}~{self.number} {self.kind} {self.message_id}"


class ReadPosition(models.Model):
    """How far a user has read a room: the ``seq`` of the last message they saw.

    Written at most every few seconds per user and room (``chat.stores.read_positions``
    coalesces), never per delivered message. The rooms a user has a position in are
    the rooms of their sidebar.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_read_positions"
    )
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="read_positions")
    seq = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "room"], name="chat_read_once")]

    def __str__(self) -> str:
        return f"{self.user} read {self.room} to {self.seq}"


class Sanction(models.Model):
    """A ban or mute of one user in one room, optionally until a moment."""

    room = models.ForeignKey(Room, on_delete=models.CASCADE)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    until = models.DateTimeField(null=True, blank=True, help_text="Empty: until lifted.")
    reason = models.CharField(max_length=500, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self.user} in {self.room}"

    def is_active(self, now=None) -> bool:
        return self.until is None or self.until > (now or timezone.now())


class Ban(Sanction):
    class Meta:
        constraints = [models.UniqueConstraint(fields=["room", "user"], name="chat_ban_once")]


class Mute(Sanction):
    class Meta:
        constraints = [models.UniqueConstraint(fields=["room", "user"], name="chat_mute_once")]


class ApiToken(models.Model):
    """A bearer token for non-browser clients. Only the SHA-256 of the key is stored."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_tokens"
    )
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    prefix = models.CharField(
        max_length=8, editable=False, help_text="First characters, to tell tokens apart."
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "API token"
        # Each process asks twice a second which tokens were revoked or expired lately.
        indexes = [
            models.Index(fields=["revoked_at"], name="chat_token_revoked"),
            models.Index(fields=["created_at"], name="chat_token_created"),
        ]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user})"


class Invite(models.Model):
    """A link that lets whoever holds it join a private room, until it expires or is
    revoked, once or ``max_uses`` times (None: any number).

    The link carries the invite's id signed with the site's ``SECRET_KEY``
    (``chat.membership.invite_token``): it cannot be forged or guessed, and revoking
    or expiring it here ends it whatever the signature says.
    """

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="invites")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField()
    max_uses = models.PositiveIntegerField(null=True, blank=True, help_text="Empty: no limit.")
    uses = models.PositiveIntegerField(default=0, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["room", "-created_at"], name="chat_invite_room")]

    def __str__(self) -> str:
        return f"invite {self.pk} to {self.room}"

    def refusal(self, now=None) -> str | None:
        """Why this link no longer lets anyone in, or None while it does."""
        if self.revoked_at is not None:
            return "This invite link was revoked."
        if self.expires_at <= (now or timezone.now()):
            return "This invite link has expired."
        if self.max_uses is not None and self.uses >= self.max_uses:
            return "This invite link has been used up."
        return None


class Report(models.Model):
    """A user's report of a message, waiting in the moderators' queue."""

    class Status(models.TextChoices):
        OPEN = "open"
        DELETED = "deleted", "message deleted"
        BANNED = "banned", "author banned"
        MUTED = "muted", "author muted"
        DISMISSED = "dismissed"

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="reports")
    reporter = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_reports"
    )
    reason = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    note = models.CharField(max_length=500, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["message", "reporter"], name="chat_report_once")
        ]
        indexes = [models.Index(fields=["status", "-created_at"], name="chat_report_queue")]

    def __str__(self) -> str:
        return f"report of {self.message} by {self.reporter}"


class Block(models.Model):
    """``blocker`` takes no new direct messages from ``blocked`` (chat.direct)."""

    blocker = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_blocks"
    )
    blocked = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_blocked_by"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["blocker", "blocked"], name="chat_block_once")
        ]

    def __str__(self) -> str:
        return f"{self.blocker} blocks {self.blocked}"


class ModerationAction(models.Model):
    """The audit trail: who did what to whom, when and why."""

    class Kind(models.TextChoices):
        DELETE = "delete", "delete message"
        RESTORE = "restore", "restore message"
        BAN = "ban"
        UNBAN = "unban"
        MUTE = "mute"
        UNMUTE = "unmute"
        ROOM = "room", "change room"
        REPORT = "report", "resolve report"
        TOKEN = "token", "revoke token"
        ADD_MEMBER = "add", "add member"
        REMOVE_MEMBER = "remove", "remove member"
        LEAVE = "leave", "leave room"
        PROMOTE = "promote", "make moderator"
        DEMOTE = "demote", "stop moderating"
        INVITE = "invite", "create invite link"
        UNINVITE = "uninvite", "revoke invite link"
        JOIN = "join", "join by invite link"
        DM_VIEW = "dm_view", "open someone's DM"

    room = models.ForeignKey(Room, null=True, blank=True, on_delete=models.CASCADE)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    kind = models.CharField(max_length=10, choices=Kind.choices)
    target_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    target_message = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.CharField(max_length=500, blank=True)
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} by {self.actor} at {self.created_at:%Y-%m-%d %H:%M}"

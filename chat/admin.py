"""The moderators' admin: every model, usable with millions of messages.

Every moderation goes through ``chat.services``, as from the WebSocket: the change
is committed, broadcast to open clients and written to the audit trail. Nothing
here deletes a message row (that would leave a gap in the room's ``seq``) or edits
room state behind the consumers' back.

Big tables (messages, the audit trail) never run ``COUNT(*)`` over the whole
table: ``show_full_result_count = False`` and a paginator that stops counting at
``CappedCountPaginator.cap`` rows.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.contrib.auth import get_user_model
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.utils.text import Truncator

from chat import attachments, direct, membership, services
from chat.forms import SanctionAdminForm, SanctionPresetField, sanction_until
from chat.models import (
    ApiToken,
    Attachment,
    Ban,
    Invite,
    Message,
    MessageRevision,
    ModerationAction,
    Mute,
    Reaction,
    ReadPosition,
    Report,
    Room,
)
from chat.wire.errors import ChatError

# --- shared pieces ---------------------------------------------------------------


class ChatAdminMedia:
    """The chat's changelist styles (column widths, cut text): only on the chat's pages."""

    class Media:
        css = {"all": ("chat/css/admin.css",)}


class ReadOnly:
    """A record kept by the chat itself (the audit trail, read positions): to look at,
    never to add, change or delete from the admin."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


def cut(text: str, length: int = 60):
    """``text`` cut to ``length`` for a changelist cell, the whole of it on hover."""
    return format_html('<span title="{}">{}</span>', text, excerpt(text, length))


class CappedCountPaginator(Paginator):
    """Count at most ``cap`` rows: the changelist of a huge table stays one index read.

    Past the cap the last pages are not reachable; narrow down with a filter or a
    search instead.
    """

    cap = 10_000

    @cached_property
    def count(self) -> int:
        if isinstance(self.object_list, QuerySet):
            # SELECT COUNT(*) FROM (SELECT ... LIMIT cap): bounded work on any backend.
            return self.object_list[: self.cap].count()
        return min(len(self.object_list), self.cap)


class ReasonActionForm(ActionForm):
    """The action bar's extra field: why (recorded in the audit trail)."""

    reason = forms.CharField(
        required=False, max_length=500, widget=forms.TextInput(attrs={"placeholder": "reason"})
    )


class ModerationActionForm(ReasonActionForm):
    """The action bar of the report queue: why, and for how long (bans and mutes)."""

    length = SanctionPresetField()


def action_reason(request: HttpRequest, default: str) -> str:
    """The reason typed next to the action, or ``default``."""
    return (request.POST.get("reason") or "").strip()[:500] or default


def action_until(request: HttpRequest):
    """The end of a ban or mute from the action bar's preset (None: until lifted)."""
    try:
        minutes = SanctionPresetField().clean(request.POST.get("length", ""))
    except forms.ValidationError:
        minutes = None  # not one of the presets: nobody chose a length
    return sanction_until(minutes)


def by_user(path: str) -> str:
    """An exact-match search on the user at ``path``, by the user model's ``USERNAME_FIELD``.

    Host projects may use any user model (an ``email`` login without ``username``).
    """
    return f"={path}__{get_user_model().USERNAME_FIELD}"


class UserFieldsMixin:
    """User fields: an autocomplete when the host's user admin can search, else raw ids.

    Django's admin check refuses autocomplete fields for a model without a registered
    admin that has ``search_fields``; the host decides what admin its user model gets,
    so the choice is made per request, after every admin is registered.
    """

    user_fields: tuple[str, ...] = ()

    def get_autocomplete_fields(self, request: HttpRequest) -> tuple[str, ...]:
        fields = tuple(super().get_autocomplete_fields(request))
        user_admin = self.admin_site._registry.get(get_user_model())
        if user_admin is not None and user_admin.get_search_fields(request):
            fields += self.user_fields
        return fields


class NullFilter(admin.SimpleListFilter):
    """Yes/no on whether ``field`` is set (deleted_at, revoked_at)."""

    field = ""
    labels = ("yes", "no")

    def lookups(self, request, model_admin):
        return [("yes", self.labels[0]), ("no", self.labels[1])]

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(**{f"{self.field}__isnull": self.value() == "no"})
        return queryset


class DeletedFilter(NullFilter):
    title = parameter_name = "deleted"
    field = "deleted_at"
    labels = ("deleted", "visible")


class ActiveFilter(admin.SimpleListFilter):
    """Bans and mutes in force now, or expired."""

    title = "in force"
    parameter_name = "active"

    def lookups(self, request, model_admin):
        return [("yes", "in force"), ("no", "expired")]

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() == "yes":
            return queryset.exclude(until__lte=now)
        if self.value() == "no":
            return queryset.filter(until__lte=now)
        return queryset


class RevokedFilter(NullFilter):
    title = parameter_name = "revoked"
    field = "revoked_at"
    labels = ("revoked", "active")


def excerpt(text: str | None, length: int = 60) -> str:
    return Truncator(text or "").chars(length)


# --- rooms -----------------------------------------------------------------------


@admin.register(Room)
class RoomAdmin(ChatAdminMedia, UserFieldsMixin, admin.ModelAdmin):
    # The flags in one column and the counters on the room's page: ten columns do
    # not fit a laptop screen beside the admin's navigation and the filters.
    list_display = ("slug", "title", "state", "last_seq", "last_message_at", "created_by")
    list_filter = ("kind", "is_private", "is_locked", "is_archived")
    search_fields = ("slug", "title")
    list_select_related = ("created_by",)
    prepopulated_fields = {"slug": ("title",)}
    user_fields = raw_id_fields = ("created_by", "members", "moderators")
    readonly_fields = ("kind", "created_at", "last_seq", "last_message_at")
    fields = (
        "slug",
        "title",
        "kind",
        "description",
        "is_private",
        "members",
        "moderators",
        ("is_locked", "slow_mode_seconds", "is_archived"),
        "created_by",
        "created_at",
        "last_seq",
        "last_message_at",
    )
    action_form = ReasonActionForm
    actions = ("lock", "unlock", "slow_mode_30s", "slow_mode_off", "archive", "unarchive")

    @admin.display(description="state")
    def state(self, obj: Room) -> str:
        """ "open", or what applies: "private, locked, slow 30 s, archived"."""
        flags = [
            name
            for name, on in (
                ("private", obj.is_private),
                ("locked", obj.is_locked),
                (f"slow {obj.slow_mode_seconds} s", obj.slow_mode_seconds),
                ("archived", obj.is_archived),
            )
            if on
        ]
        return ", ".join(flags) or "open"

    # Changing these must reach open clients (a ``room`` frame, or 4410) and the audit trail.
    STATE_FIELDS = ("is_locked", "slow_mode_seconds", "is_archived")

    def has_delete_permission(self, request, obj=None) -> bool:
        # Deleting a room would pull its history from under open connections; archive it.
        return False

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # Someone else's DM opened here is recorded, as on the room page (dm_view).
        room = self.get_object(request, object_id)
        if room is not None and request.method == "GET":
            direct.record_view(room=room, by=request.user)
        return super().change_view(request, object_id, form_url, extra_context)

    def save_model(self, request, obj: Room, form, change: bool) -> None:
        if not change:
            obj.created_by = obj.created_by or request.user
            super().save_model(request, obj, form, change)
            return
        state = {f: getattr(obj, f) for f in self.STATE_FIELDS if f in form.changed_data}
        plain = {f.name for f in Room._meta.concrete_fields} - set(self.STATE_FIELDS)
        others = [name for name in form.changed_data if name in plain]
        if others:
            obj.save(update_fields=others)
        if state:
            services.set_room_state(
                room=obj,
                by=request.user,
                reason=action_reason(request, "edited in the admin"),
                **state,
            )

    def save_related(self, request, form, formsets, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        # Members and moderators are saved here, after save_model: only now can we
        # tell who may no longer read the room, and close their open connections.
        if change and {"is_private", "members", "moderators"} & set(form.changed_data):
            services.close_outsiders(room=form.instance)

    def _set_state(self, request, queryset, message: str, **state) -> None:
        reason = action_reason(request, "")
        for room in queryset:
            services.set_room_state(room=room, by=request.user, reason=reason, **state)
        self.message_user(request, f"{queryset.count()} room(s) {message}.", messages.SUCCESS)

    @admin.action(description="Lock selected rooms (read-only)", permissions=["change"])
    def lock(self, request, queryset):
        self._set_state(request, queryset, "locked", is_locked=True)

    @admin.action(description="Unlock selected rooms", permissions=["change"])
    def unlock(self, request, queryset):
        self._set_state(request, queryset, "unlocked", is_locked=False)

    @admin.action(description="Slow mode: one message per 30 s", permissions=["change"])
    def slow_mode_30s(self, request, queryset):
        self._set_state(request, queryset, "in slow mode", slow_mode_seconds=30)

    @admin.action(description="Slow mode off", permissions=["change"])
    def slow_mode_off(self, request, queryset):
        self._set_state(request, queryset, "out of slow mode", slow_mode_seconds=0)

    @admin.action(description="Archive selected rooms (closes connections)", permissions=["change"])
    def archive(self, request, queryset):
        self._set_state(request, queryset, "archived", is_archived=True)

    @admin.action(description="Unarchive selected rooms", permissions=["change"])
    def unarchive(self, request, queryset):
        self._set_state(request, queryset, "unarchived", is_archived=False)


# --- messages --------------------------------------------------------------------


class ReactionInline(admin.TabularInline):
    """Who reacted with what, read-only: reactions change through the room (the
    service numbers the change and updates open pages), never behind its back."""

    model = Reaction
    fields = ("emoji", "user", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ("created_at", "pk")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user")

    def has_view_permission(self, request, obj=None) -> bool:
        # Whoever may see the message may see its reactions.
        return request.user.has_perm("chat.view_message") or request.user.has_perm(
            "chat.change_message"
        )

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class MessageRevisionInline(admin.TabularInline):
    """A message's earlier texts, oldest first: the edit history moderators review."""

    model = MessageRevision
    fields = ("body", "replaced_at", "replaced_by")
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name = "earlier text"
    verbose_name_plural = "edit history (earlier texts, oldest first)"

    def has_add_permission(self, request, obj=None) -> bool:
        return False  # revisions are written by services.edit_message only

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_view_permission(self, request, obj=None) -> bool:
        # Whoever may see the message sees what it said before: part of the record.
        return request.user.has_perm("chat.view_message") or request.user.has_perm(
            "chat.change_message"
        )

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("replaced_by")


@admin.register(Message)
class MessageAdmin(ChatAdminMedia, admin.ModelAdmin):
    list_display = ("id", "room", "seq", "author", "text", "created_at", "is_deleted", "deleted_by")
    list_display_links = ("id", "seq")
    list_filter = (DeletedFilter, "room")
    list_select_related = ("room", "author", "deleted_by")
    search_fields = ("body", by_user("author"), "=room__slug")
    date_hierarchy = "created_at"
    # Newest first through the primary key: an index read, whatever the table size.
    ordering = ("-id",)
    show_full_result_count = False
    paginator = CappedCountPaginator
    fields = (
        "room",
        "seq",
        "author",
        "body",
        "client_id",
        "created_at",
        "edited_at",
        "reply_to",
        "deleted_at",
        "deleted_by",
    )
    readonly_fields = fields
    inlines = (MessageRevisionInline, ReactionInline)
    action_form = ReasonActionForm
    actions = ("delete_messages", "restore_messages")

    @admin.display(description="body")
    def text(self, obj: Message) -> str:
        if obj.is_deleted:
            return "(deleted) " + excerpt(obj.body, 40)
        return ("(edited) " if obj.edited_at else "") + cut(obj.body)

    @admin.display(description="deleted", boolean=True)
    def is_deleted(self, obj: Message) -> bool:
        return obj.is_deleted

    def get_queryset(self, request):
        # The change page shows room, author and deleter too: one query, not four.
        messages = super().get_queryset(request).select_related("room", "author", "deleted_by")
        match = request.resolver_match
        if match is not None and match.url_name == "chat_message_changelist":
            # Direct messages are read one conversation at a time, each opening
            # recorded (chat.direct.record_view): never in the list of everyone's.
            messages = messages.exclude(room__kind=Room.Kind.DM)
        return messages

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # A DM's message opened here (say, from a report) is recorded as opening the DM.
        message = self.get_object(request, object_id)
        if message is not None and request.method == "GET":
            direct.record_view(room=message.room, by=request.user)
        return super().change_view(request, object_id, form_url, extra_context)

    def has_add_permission(self, request) -> bool:
        return False  # messages are posted through the room, where seq is assigned

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # a hard delete leaves a gap in seq; use "Delete selected messages"

    def get_actions(self, request):
        actions = super().get_actions(request)
        # Django's bulk delete bypasses the tombstone, the broadcast and the audit trail.
        actions.pop("delete_selected", None)
        return actions

    @admin.action(description="Delete selected messages (tombstone, live)", permissions=["change"])
    def delete_messages(self, request, queryset):
        reason = action_reason(request, "deleted in the admin")
        done = 0
        for message in queryset.filter(deleted_at__isnull=True):
            services.delete_message(message=message, by=request.user, reason=reason)
            done += 1
        self.message_user(request, f"{done} message(s) deleted.", messages.SUCCESS)

    @admin.action(description="Restore selected messages", permissions=["change"])
    def restore_messages(self, request, queryset):
        done = 0
        for message in queryset.filter(deleted_at__isnull=False):
            services.restore_message(message=message, by=request.user)
            done += 1
        self.message_user(request, f"{done} message(s) restored.", messages.SUCCESS)


# --- files -----------------------------------------------------------------------


class SentFilter(admin.SimpleListFilter):
    title = "sent"
    parameter_name = "sent"

    def lookups(self, request, model_admin):
        return (("yes", "with a message"), ("no", "never sent"))

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(message__isnull=self.value() == "no")
        return queryset


@admin.register(Attachment)
class AttachmentAdmin(ChatAdminMedia, admin.ModelAdmin):
    """Uploaded files. Deleting one here removes the stored file too; to take a file
    out of a conversation, delete its message (a tombstone, live, audited)."""

    list_display = (
        "id",
        "name",
        "room",
        "uploader",
        "size_text",
        "content_type",
        "message_link",
        "created_at",
    )
    list_filter = (SentFilter, "content_type", "room")
    list_select_related = ("room", "uploader", "message")
    search_fields = ("name", by_user("uploader"), "=room__slug")
    date_hierarchy = "created_at"
    ordering = ("-id",)
    show_full_result_count = False
    paginator = CappedCountPaginator
    fields = (
        "name",
        "room",
        "uploader",
        "message_link",
        "content_type",
        "size_text",
        "width",
        "height",
        "storage_name",
        "thumbnail_name",
        "created_at",
        "open_link",
    )
    readonly_fields = fields

    @admin.display(description="size", ordering="size")
    def size_text(self, obj: Attachment) -> str:
        return f"{obj.size:,} bytes"

    @admin.display(description="message")
    def message_link(self, obj: Attachment) -> str:
        if obj.message_id is None:
            return "(not sent)"
        url = reverse("admin:chat_message_change", args=[obj.message_id])
        return format_html('<a href="{}">{}</a>', url, obj.message)

    @admin.display(description="file")
    def open_link(self, obj: Attachment) -> str:
        # Served by the chat's own view, with its access checks (unsent: uploader only).
        url = reverse("chat:file", kwargs={"file_id": obj.pk, "name": obj.name})
        return format_html('<a href="{}" rel="noopener">{}</a>', url, obj.name)

    def has_add_permission(self, request) -> bool:
        return False  # files come through the room page or POST api/rooms/<slug>/files

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def delete_model(self, request, obj: Attachment) -> None:
        attachments.delete_files([obj])

    def delete_queryset(self, request, queryset) -> None:
        attachments.delete_files(queryset)


# --- bans and mutes --------------------------------------------------------------


class SanctionAdmin(ChatAdminMedia, UserFieldsMixin, admin.ModelAdmin):
    """Bans and mutes: added, changed and lifted through the services."""

    list_display = (
        "user",
        "room",
        "until",
        "in_force",
        "reason_text",
        "created_by",
        "created_at",
    )
    list_filter = (ActiveFilter, "created_at")
    list_select_related = ("user", "room", "created_by")
    search_fields = (by_user("user"), "=room__slug", "reason")
    autocomplete_fields = ("room",)
    user_fields = raw_id_fields = ("user",)
    form = SanctionAdminForm
    fields = ("room", "user", "length", "until", "reason", "created_by", "created_at")
    readonly_fields = ("created_by", "created_at")
    ordering = ("-created_at",)

    impose = staticmethod(services.ban_user)
    lift = staticmethod(services.unban_user)

    @admin.display(description="reason", ordering="reason")
    def reason_text(self, obj):
        return cut(obj.reason)

    @admin.display(description="in force", boolean=True)
    def in_force(self, obj) -> bool:
        return obj.is_active()

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user", "room", "created_by")

    def get_readonly_fields(self, request, obj=None):
        # Moving a sanction to another user or room is lifting one and imposing another.
        if obj is not None:
            return ("room", "user", *self.readonly_fields)
        return self.readonly_fields

    def save_model(self, request, obj, form, change: bool) -> None:
        saved = self.impose(
            room=obj.room, user=obj.user, by=request.user, until=obj.until, reason=obj.reason
        )
        # The admin logs and redirects with this object: give it the stored row.
        obj.pk, obj.created_by, obj.created_at = saved.pk, saved.created_by, saved.created_at

    def delete_model(self, request, obj) -> None:
        self.lift(room=obj.room, user=obj.user, by=request.user)

    def delete_queryset(self, request, queryset) -> None:
        for sanction in queryset.select_related("room", "user"):
            self.lift(room=sanction.room, user=sanction.user, by=request.user)


@admin.register(Ban)
class BanAdmin(SanctionAdmin):
    impose = staticmethod(services.ban_user)
    lift = staticmethod(services.unban_user)


@admin.register(Mute)
class MuteAdmin(SanctionAdmin):
    impose = staticmethod(services.mute_user)
    lift = staticmethod(services.unmute_user)


# --- tokens ----------------------------------------------------------------------


@admin.register(ApiToken)
class ApiTokenAdmin(ChatAdminMedia, admin.ModelAdmin):
    list_display = ("prefix", "user", "created_at", "last_used_at", "revoked_at")
    list_filter = (RevokedFilter, "created_at")
    list_select_related = ("user",)
    search_fields = ("prefix", by_user("user"))
    fields = ("user", "prefix", "created_at", "last_used_at", "revoked_at")
    readonly_fields = fields
    ordering = ("-id",)
    actions = ("revoke",)

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user")

    def has_add_permission(self, request) -> bool:
        return False  # the key is shown once: issue with `manage.py chat_token` or POST /api/token

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # deleting would leave its connections open; revoke instead

    @admin.action(
        description="Revoke selected tokens (closes their connections)", permissions=["change"]
    )
    def revoke(self, request, queryset):
        count = services.revoke_tokens(tokens=queryset, by=request.user)
        self.message_user(request, f"{count} token(s) revoked.", messages.SUCCESS)


@admin.register(Invite)
class InviteAdmin(ChatAdminMedia, admin.ModelAdmin):
    """Invite links to private rooms: made on the room page by its moderators; here
    staff see them all and revoke them (through ``chat.membership``, audited)."""

    list_display = ("id", "room", "created_by", "created_at", "expires_at", "uses_text", "state")
    list_filter = (RevokedFilter, "created_at")
    list_select_related = ("room", "created_by")
    search_fields = ("room__slug", by_user("created_by"))
    fields = (
        "room",
        "created_by",
        "created_at",
        "expires_at",
        "max_uses",
        "uses",
        "revoked_at",
        "revoked_by",
        "link",
    )
    readonly_fields = fields
    ordering = ("-id",)
    actions = ("revoke",)

    def has_add_permission(self, request) -> bool:
        return False  # made on the room page, where its moderators send it

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # revoke instead: the audit trail keeps who made and ended it

    @admin.display(description="uses")
    def uses_text(self, obj: Invite) -> str:
        return f"{obj.uses} / {obj.max_uses if obj.max_uses is not None else '∞'}"

    @admin.display(description="state")
    def state(self, obj: Invite) -> str:
        return obj.refusal() or "open"

    @admin.display(description="link")
    def link(self, obj: Invite) -> str:
        return reverse("chat:invite", kwargs={"token": membership.invite_token(obj)})

    @admin.action(description="Revoke selected invite links", permissions=["change"])
    def revoke(self, request, queryset):
        count = 0
        for invite in queryset.select_related("room"):
            try:
                count += membership.revoke_invite(invite=invite, by=request.user)
            except ChatError as error:
                self.message_user(request, f"{invite}: {error.detail}", messages.ERROR)
        self.message_user(request, f"{count} invite link(s) revoked.", messages.SUCCESS)


# --- reports ---------------------------------------------------------------------


@admin.register(Report)
class ReportAdmin(ChatAdminMedia, admin.ModelAdmin):
    list_display = (
        "id",
        "status",
        "room",
        "author",
        "message_text",
        "reporter",
        "reason_text",
        "created_at",
        "resolved_by",
    )
    list_filter = ("status", "created_at")
    list_select_related = ("message__room", "message__author", "reporter", "resolved_by")
    search_fields = ("reason", by_user("reporter"), by_user("message__author"), "message__body")
    fields = (
        "message",
        "room",
        "author",
        "message_text",
        "reporter",
        "reason",
        "created_at",
        "status",
        "resolved_by",
        "resolved_at",
        "note",
    )
    readonly_fields = fields
    ordering = ("-id",)
    show_full_result_count = False
    paginator = CappedCountPaginator
    action_form = ModerationActionForm
    actions = ("delete_message", "ban_author", "mute_author", "dismiss")

    @admin.display(description="room")
    def room(self, obj: Report):
        return obj.message.room

    @admin.display(description="author")
    def author(self, obj: Report):
        return obj.message.author

    @admin.display(description="message")
    def message_text(self, obj: Report) -> str:
        return "(deleted)" if obj.message.is_deleted else cut(obj.message.body)

    @admin.display(description="reason", ordering="reason")
    def reason_text(self, obj: Report):
        return cut(obj.reason)

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("message__room", "message__author", "reporter", "resolved_by")
        )

    def has_add_permission(self, request) -> bool:
        return False  # users report from the room

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # a report is part of the record; dismiss it

    def _resolve(self, request, queryset, status: str, done: str) -> None:
        note = action_reason(request, "")
        until = action_until(request)
        count = 0
        for report in queryset.filter(status=Report.Status.OPEN):
            services.resolve_report(
                report=report, by=request.user, status=status, note=note, until=until
            )
            count += 1
        self.message_user(request, f"{count} open report(s) resolved: {done}.", messages.SUCCESS)

    # Resolving acts on another model too: it needs that model's permission, as the same
    # action there would. Triaging reports alone (change_report) may only dismiss them.
    def _may_resolve_with(self, request, permission: str) -> bool:
        return self.has_change_permission(request) and request.user.has_perm(permission)

    def has_change_message_permission(self, request) -> bool:
        return self._may_resolve_with(request, "chat.change_message")

    def has_add_ban_permission(self, request) -> bool:
        return self._may_resolve_with(request, "chat.add_ban")

    def has_add_mute_permission(self, request) -> bool:
        return self._may_resolve_with(request, "chat.add_mute")

    @admin.action(
        description="Resolve: delete the reported messages", permissions=["change_message"]
    )
    def delete_message(self, request, queryset):
        self._resolve(request, queryset, Report.Status.DELETED, "messages deleted")

    @admin.action(description="Resolve: ban the authors from the room", permissions=["add_ban"])
    def ban_author(self, request, queryset):
        self._resolve(request, queryset, Report.Status.BANNED, "authors banned")

    @admin.action(description="Resolve: mute the authors in the room", permissions=["add_mute"])
    def mute_author(self, request, queryset):
        self._resolve(request, queryset, Report.Status.MUTED, "authors muted")

    @admin.action(description="Resolve: dismiss", permissions=["change"])
    def dismiss(self, request, queryset):
        self._resolve(request, queryset, Report.Status.DISMISSED, "dismissed")


# --- audit trail -----------------------------------------------------------------


@admin.register(ModerationAction)
class ModerationActionAdmin(ReadOnly, ChatAdminMedia, admin.ModelAdmin):
    """The audit trail: read-only for everyone, superusers included."""

    list_display = (
        "created_at",
        "kind",
        "change",
        "actor",
        "room",
        "target_user",
        "target_message",
        "reason",
    )
    list_filter = ("kind", "created_at")
    list_select_related = ("actor", "room", "target_user", "target_message")
    search_fields = ("reason", by_user("actor"), by_user("target_user"), "=room__slug")
    date_hierarchy = "created_at"
    ordering = ("-id",)
    show_full_result_count = False
    paginator = CappedCountPaginator
    fields = (
        "created_at",
        "kind",
        "actor",
        "room",
        "target_user",
        "target_message",
        "reason",
        "details",
    )
    readonly_fields = fields

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("actor", "room", "target_user", "target_message")
        )

    @admin.display(description="change")
    def change(self, obj: ModerationAction) -> str:
        """What changed, from ``details``: "is_locked: False → True", "until: 2026-05-01 12:00"."""
        parts = []
        for key, value in (obj.details or {}).items():
            if isinstance(value, list) and len(value) == 2:
                parts.append(f"{key}: {value[0]} → {value[1]}")
            elif key == "until":
                parts.append(
                    f"until: {value[:16].replace('T', ' ')} UTC" if value else "until lifted"
                )
            elif value is not None:
                parts.append(f"{key}: {value}")
        return "; ".join(parts)


@admin.register(ReadPosition)
class ReadPositionAdmin(ReadOnly, ChatAdminMedia, admin.ModelAdmin):
    """How far each user has read each room (the sidebar's unread counts start there).

    Read-only: positions move only by reading (``chat.unread``); a moderator looks, e.g.
    to see whether a user saw a warning. Saved at most every few seconds, so the last
    seconds of reading may not show yet.
    """

    list_display = ("user", "room", "seq", "room_last_seq", "updated_at")
    list_select_related = ("user", "room")
    search_fields = (by_user("user"), "=room__slug")
    list_filter = ("updated_at",)
    ordering = ("-updated_at",)
    show_full_result_count = False
    paginator = CappedCountPaginator
    fields = ("user", "room", "seq", "room_last_seq", "updated_at")
    readonly_fields = fields

    @admin.display(description="room's newest seq")
    def room_last_seq(self, obj: ReadPosition) -> int:
        """How far there is to read: the room's newest message."""
        return obj.room.last_seq

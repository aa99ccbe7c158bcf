"""HTTP routes of the chat app: ``path("<any prefix>/", include("chat.urls"))`` in a host.

Every link, redirect and script URL is reversed from these names (namespace ``chat``),
so the prefix is the host's choice. The WebSocket route is not here: ``chat.routing``.
"""

from django.urls import path

from chat.views import api, dms, files, members, ops, pages, search_page, tokens

app_name = "chat"

urlpatterns = [
    path("", pages.lobby, name="lobby"),
    path("rooms/", pages.create_room, name="create_room"),
    path("rooms/<slug:slug>/", pages.room, name="room"),
    path(
        "rooms/<slug:slug>/messages/<int:message_id>/delete",
        pages.delete_message,
        name="delete_message",
    ),
    path("rooms/<slug:slug>/users/<str:username>/mute", pages.mute_user, name="mute_user"),
    path("rooms/<slug:slug>/users/<str:username>/ban", pages.ban_user, name="ban_user"),
    path("dms/", dms.open_dm, name="open_dm"),
    path("dms/block", dms.block, name="block_user"),
    path("api/dms", dms.api_open_dm, name="api_dms"),
    path("search/", search_page.search_view, name="search"),
    path("rooms/<slug:slug>/members", members.members, name="members"),
    path("rooms/<slug:slug>/members/add", members.add_member, name="add_member"),
    path(
        "rooms/<slug:slug>/members/<str:username>/remove",
        members.remove_member,
        name="remove_member",
    ),
    path(
        "rooms/<slug:slug>/members/<str:username>/moderator",
        members.set_moderator,
        name="set_moderator",
    ),
    path("rooms/<slug:slug>/leave", members.leave_room, name="leave_room"),
    path("rooms/<slug:slug>/invites", members.create_invite, name="create_invite"),
    path(
        "rooms/<slug:slug>/invites/<int:invite_id>/revoke",
        members.revoke_invite,
        name="revoke_invite",
    ),
    path("invites/<str:token>/", members.invite, name="invite"),
    path("tokens/", tokens.tokens, name="tokens"),
    path("tokens/<int:token_id>/revoke", tokens.revoke_token, name="revoke_token"),
    path("tokens/revoke-all", tokens.revoke_all_tokens, name="revoke_all_tokens"),
    path("api/token", api.token, name="api_token"),
    path("api/rooms/<slug:slug>/messages", api.messages, name="api_messages"),
    path("api/search", api.search_messages, name="api_search"),
    path("api/rooms/<slug:slug>/files", files.upload, name="api_files"),
    path("files/<int:file_id>/thumb", files.thumbnail, name="file_thumbnail"),
    path("files/<int:file_id>/<str:name>", files.download, name="file"),
    path("healthz", ops.healthz, name="healthz"),
    path("metrics", ops.metrics, name="metrics"),
]

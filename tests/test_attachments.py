"""Storing uploads: checked first, stored only when accepted; sending, quota, rate, cleanup."""

import io
from datetime import timedelta

import pytest
from django.utils import timezone

from chat import attachments, selectors, services
from chat.models import Attachment, Message
from chat.wire.errors import ChatError, ErrorCode
from tests.helpers.files import HTML, TEXT, image_bytes

pytestmark = pytest.mark.usefixtures("media_root")


def stored_files(media_root) -> list[str]:
    return sorted(p.name for p in media_root.rglob("*") if p.is_file())


def put(room, user, data: bytes, name: str = "a.png") -> Attachment:
    return attachments.upload(
        room=room, user=user, file=io.BytesIO(data), name=name, size=len(data)
    )


def test_an_image_is_stored_with_a_thumbnail_under_random_names(room, user, media_root):
    attachment = put(room, user, image_bytes("PNG", (800, 600)), "holiday.png")
    assert (attachment.content_type, attachment.width, attachment.height) == ("image/png", 800, 600)
    assert attachment.message is None and attachment.name == "holiday.png"
    files = stored_files(media_root)
    assert len(files) == 2 and not any("holiday" in name for name in files)
    with attachments.open_file(attachment, thumbnail=True) as thumb:
        from PIL import Image

        assert max(Image.open(thumb).size) == 400


def test_a_png_named_txt_is_a_png_and_its_name_says_so(room, user):
    attachment = put(room, user, image_bytes(), "notes.txt")
    assert attachment.content_type == "image/png"
    assert attachment.name == "notes.txt.png"


def test_html_named_png_is_refused_and_nothing_is_stored(room, user, media_root):
    with pytest.raises(ChatError) as refused:
        put(room, user, HTML, "cat.png")
    assert refused.value.code == ErrorCode.UNSUPPORTED_FILE
    assert not Attachment.objects.exists() and stored_files(media_root) == []


def test_oversize_is_refused_before_anything_is_read(room, user, settings, media_root):
    settings.CHAT_MAX_UPLOAD_BYTES = 100
    with pytest.raises(ChatError) as refused:
        put(room, user, TEXT * 20, "big.txt")
    assert refused.value.code == ErrorCode.TOO_LARGE
    assert stored_files(media_root) == []


def test_the_quota_counts_what_the_user_has_stored(room, user, other_user, settings):
    settings.CHAT_UPLOAD_QUOTA_BYTES = len(TEXT) * 2
    put(room, user, TEXT, "1.txt")
    put(room, user, TEXT, "2.txt")
    with pytest.raises(ChatError) as refused:
        put(room, user, TEXT, "3.txt")
    assert refused.value.code == ErrorCode.QUOTA_EXCEEDED
    assert attachments.used_bytes(user) == len(TEXT) * 2
    put(room, other_user, TEXT, "theirs.txt")  # someone else's quota is their own


def test_the_quota_is_checked_again_when_the_row_is_written(room, user, settings, media_root):
    """An upload that passed the early check while another filled the quota."""
    settings.CHAT_UPLOAD_QUOTA_BYTES = len(TEXT)
    attachments.check(room=room, user=user, size=len(TEXT))
    kept = attachments.keep(room_id=room.pk, file=io.BytesIO(TEXT))
    put(room, user, TEXT, "meanwhile.txt")
    with pytest.raises(ChatError) as refused:
        attachments.record(room=room, user=user, kept=kept, name="late.txt", size=len(TEXT))
    assert refused.value.code == ErrorCode.QUOTA_EXCEEDED
    assert Attachment.objects.count() == 1 and len(stored_files(media_root)) == 1


def test_uploads_are_rate_limited_per_user(room, user, settings, embedded):
    settings.CHAT_UPLOAD_RATE = "2/m"
    put(room, user, TEXT, "1.txt")
    put(room, user, TEXT, "2.txt")
    with pytest.raises(ChatError) as refused:
        put(room, user, TEXT, "3.txt")
    assert refused.value.code == ErrorCode.RATE_LIMITED and refused.value.retry_after > 0
    assert Attachment.objects.count() == 2


def test_who_may_not_write_may_not_upload(make_room, user, other_user, room):
    private = make_room("secret", is_private=True)
    with pytest.raises(ChatError) as refused:
        put(private, other_user, TEXT)
    assert refused.value.code == ErrorCode.FORBIDDEN
    services.mute_user(room=room, user=other_user, by=user)
    with pytest.raises(ChatError) as muted:
        put(room, other_user, TEXT)
    assert muted.value.code == ErrorCode.MUTED
    assert not Attachment.objects.exists()


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("../../etc/passwd.txt", "passwd.txt"),
        ("C:\\Users\\me\\report.txt", "report.txt"),
        (".hidden.txt", "hidden.txt"),
        ("evil\u202egnp.txt", "evilgnp.txt"),
        ("", "file.txt"),
        ("page.html", "page.html.txt"),
        ("x" * 300 + ".txt", "x" * 116 + ".txt"),
    ],
)
def test_names_are_cleaned(given, expected):
    assert attachments.clean_name(given, "txt", "text/plain") == expected


def test_sending_attaches_own_unsent_files_and_the_payload_lists_them(room, user):
    image = put(room, user, image_bytes(), "a.png")
    text = put(room, user, TEXT, "b.txt")
    result = services.post_message(room=room, author=user, body="", files=(image.pk, text.pk))
    assert result.message.body == ""
    files = result.payload["files"]
    assert [f["id"] for f in files] == [image.pk, text.pk]
    assert files[0]["thumbnail_url"] and files[1]["thumbnail_url"] is None
    assert files[0]["url"].endswith(f"/files/{image.pk}/a.png")
    assert set(Attachment.objects.values_list("message_id", flat=True)) == {result.message.pk}
    # Read back: the history page and a single payload agree with the live one.
    page = selectors.messages_before(room=room, before_seq=None, limit=10)
    assert page[-1]["files"] == files
    assert (
        selectors.message_payload(
            Message.objects.get(pk=result.message.pk), room_slug=room.slug, username="alice"
        )["files"]
        == files
    )


def test_a_file_goes_with_one_message_only(room, user):
    file = put(room, user, TEXT)
    services.post_message(room=room, author=user, body="first", files=(file.pk,))
    with pytest.raises(ChatError) as refused:
        services.post_message(room=room, author=user, body="again", files=(file.pk,))
    assert refused.value.code == ErrorCode.NOT_FOUND
    assert Message.objects.count() == 1


def test_someone_elses_or_another_rooms_file_is_not_found_and_nothing_is_stored(
    room, make_room, user, other_user
):
    theirs = put(room, other_user, TEXT)
    elsewhere = put(make_room("other"), user, TEXT)
    for file in (theirs, elsewhere):
        with pytest.raises(ChatError) as refused:
            services.post_message(room=room, author=user, body="x", files=(file.pk,))
        assert refused.value.code == ErrorCode.NOT_FOUND
    assert not Message.objects.exists()
    assert not Attachment.objects.filter(message__isnull=False).exists()


def test_a_batch_without_files_asks_nothing_about_files(room, user, django_assert_num_queries):
    requests = [services.PostRequest(room_id=room.pk, author=user, body=f"m{i}") for i in range(3)]
    services.post_messages(requests)  # warm up (content types, etc.)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        services.post_messages(requests)
    assert not any("attachment" in q["sql"].lower() for q in queries.captured_queries)


def test_a_deleted_message_shows_no_files(room, user):
    file = put(room, user, TEXT)
    message = services.post_message(room=room, author=user, body="x", files=(file.pk,)).message
    services.delete_message(message=message, by=user)
    page = selectors.messages_before(room=room, before_seq=None, limit=10)
    assert "files" not in page[-1]


def test_unsent_uploads_are_cleaned_up_after_a_day(
    room, user, media_root, django_capture_on_commit_callbacks
):
    old = put(room, user, TEXT, "old.txt")
    sent = put(room, user, TEXT, "sent.txt")
    two_days_ago = timezone.now() - timedelta(days=2)
    Attachment.objects.filter(pk__in=[old.pk, sent.pk]).update(created_at=two_days_ago)
    services.post_message(room=room, author=user, body="x", files=(sent.pk,))
    fresh = put(room, user, TEXT, "fresh.txt")
    with django_capture_on_commit_callbacks(execute=True):
        assert attachments.delete_unsent() == 1
    assert set(Attachment.objects.values_list("pk", flat=True)) == {sent.pk, fresh.pk}
    assert len(stored_files(media_root)) == 2  # the old file is gone from storage too


def test_a_reply_may_carry_files_and_an_edit_keeps_them(room, user, other_user):
    original = services.post_message(room=room, author=other_user, body="lunch?").message
    file = put(room, user, TEXT, "menu.txt")
    result = services.post_message(
        room=room, author=user, body="", reply_to=original.pk, files=(file.pk,)
    )
    assert result.payload["reply_to"]["id"] == original.pk
    assert [f["id"] for f in result.payload["files"]] == [file.pk]
    services.edit_message(message=result.message, by=user, body="the menu")
    page = selectors.messages_before(room=room, before_seq=None, limit=10)
    assert page[-1]["body"] == "the menu" and page[-1]["edited"]
    assert page[-1]["reply_to"]["id"] == original.pk
    assert [f["id"] for f in page[-1]["files"]] == [file.pk]


def test_a_refused_reply_takes_no_files(room, user, other_user):
    original = services.post_message(room=room, author=other_user, body="gone").message
    services.delete_message(message=original, by=other_user, moderator=False)
    file = put(room, user, TEXT)
    with pytest.raises(ChatError) as refused:
        services.post_message(
            room=room, author=user, body="x", reply_to=original.pk, files=(file.pk,)
        )
    assert refused.value.code == ErrorCode.MESSAGE_DELETED
    assert Attachment.objects.get(pk=file.pk).message_id is None


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_uploads_at_the_same_moment_never_exceed_the_quota(
    room, user, settings, embedded, media_root
):
    """Each of six uploads alone fits; together only two do, whatever their timing."""
    from tests.helpers.threads import in_threads

    settings.CHAT_UPLOAD_QUOTA_BYTES = len(TEXT) * 2
    settings.CHAT_UPLOAD_RATE = ""
    errors = in_threads(6, lambda n: put(room, user, TEXT, f"{n}.txt"))

    assert attachments.used_bytes(user) == len(TEXT) * 2
    assert len(errors) == 4
    assert all(isinstance(e, ChatError) and e.code == ErrorCode.QUOTA_EXCEEDED for e in errors)
    # A refused upload leaves no file behind: the two accepted ones and nothing else.
    assert len(stored_files(media_root)) == 2

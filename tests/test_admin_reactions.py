"""A message's admin page shows its reactions, read-only."""

import pytest
from django.urls import reverse

from chat import reactions, services
from chat.models import Reaction

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def test_the_message_page_lists_reactions_and_offers_no_way_to_change_them(
    client, room, user, other_user, staff_user
):
    message = services.post_message(room=room, author=user, body="ship it").message
    reactions.set_reaction(message=message, user=other_user, emoji="🚀", active=True)
    client.force_login(staff_user)
    page = client.get(reverse("admin:chat_message_change", args=[message.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert "🚀" in html and "bob" in html
    assert 'name="reactions-0-DELETE"' not in html
    assert "reactions-TOTAL_FORMS" in html  # the inline is there, with no form to add one
    assert Reaction.objects.count() == 1

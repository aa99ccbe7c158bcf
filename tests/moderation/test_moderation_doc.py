"""docs/moderation.md names every admin action as the admin labels it, and its pictures exist."""

import re
from pathlib import Path

import pytest
from django.contrib import admin

from chat.models import ApiToken, Message, Report, Room

DOC = Path(__file__).resolve().parents[2] / "docs" / "moderation.md"


@pytest.fixture(scope="module")
def doc() -> str:
    return DOC.read_text()


@pytest.mark.parametrize("model", [Room, Message, Report, ApiToken], ids=lambda m: m.__name__)
def test_every_admin_action_is_documented_by_its_label(doc, model):
    model_admin = admin.site._registry[model]
    for action in model_admin.actions:
        label = getattr(model_admin, action).short_description
        assert f"**{label}**" in doc, label


def test_every_picture_exists(doc):
    pictures = re.findall(r"\]\((screenshots/[^)]+)\)", doc)
    assert len(pictures) == 3
    for picture in pictures:
        assert (DOC.parent / picture).stat().st_size > 10_000, picture

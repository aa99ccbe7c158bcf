"""HTML forms: sign-up, create a room, and the moderators' actions from the room page."""

from __future__ import annotations

import re
from datetime import timedelta

from django import forms
from django.contrib.auth.forms import UserCreationForm
from django.core.validators import RegexValidator

from chat.models import Room

SLUG_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
SLUG_HELP = (
    "Lowercase letters, digits and single hyphens, e.g. “book-club”. It becomes the room’s address."
)
# Longest sanction the room page offers; anything longer is "until lifted" (no minutes).
MAX_SANCTION_MINUTES = 60 * 24 * 365


# Usernames travel in URL paths (the room page's moderation links): ASCII letters,
# digits and _ . @ + -, starting with a letter, digit or underscore, so "." and ".."
# (which a browser resolves as path segments) cannot be names.
USERNAME_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.@+-]*\Z"


class SignupForm(UserCreationForm):
    """Django's sign-up form (username and password twice, with the password validators)."""

    class Meta(UserCreationForm.Meta):
        fields = ("username",)

    def clean_username(self) -> str:
        """Django's checks, then the URL-safe set of ``USERNAME_PATTERN``."""
        username = super().clean_username()
        if username and not re.match(USERNAME_PATTERN, username):
            raise forms.ValidationError(
                "Use only letters A-Z, digits and _ . @ + -, starting with a letter, a digit or _.",
                code="invalid_username",
            )
        return username


class RoomForm(forms.Form):
    """Create a room. The slug is validated here; a duplicate gets a message naming it."""

    title = forms.CharField(max_length=Room._meta.get_field("title").max_length)
    slug = forms.CharField(
        label="Address",
        min_length=2,
        max_length=Room._meta.get_field("slug").max_length,
        help_text=SLUG_HELP,
        validators=[
            RegexValidator(
                SLUG_PATTERN,
                "Use only lowercase letters, digits and single hyphens (no spaces), "
                "starting and ending with a letter or digit.",
            )
        ],
    )
    description = forms.CharField(
        max_length=500, required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    is_private = forms.BooleanField(
        label="Private (only members you add in the admin can enter)", required=False
    )

    def clean_slug(self) -> str:
        slug = self.cleaned_data["slug"]
        if Room.objects.filter(slug=slug).exists():
            raise forms.ValidationError(
                "A room with the address “%(slug)s” already exists. Pick another address.",
                code="duplicate",
                params={"slug": slug},
            )
        return slug

    def full_clean(self) -> None:
        # Case is folded, not refused: "Book-Club" is clearly meant as "book-club", and
        # folding before the validators run lets it pass the pattern.
        if self.is_bound and "slug" in self.data:
            data = self.data.copy()
            data["slug"] = str(data.get("slug", "")).strip().lower()
            self.data = data
        super().full_clean()


class SanctionForm(forms.Form):
    """A moderator's mute or ban: how long (empty: until lifted) and why."""

    minutes = forms.IntegerField(min_value=1, max_value=MAX_SANCTION_MINUTES, required=False)
    reason = forms.CharField(max_length=500, required=False)

    def duration(self) -> timedelta | None:
        minutes = self.cleaned_data.get("minutes")
        return timedelta(minutes=minutes) if minutes else None


class ReasonForm(forms.Form):
    """A moderator's reason for deleting a message (optional)."""

    reason = forms.CharField(max_length=500, required=False)

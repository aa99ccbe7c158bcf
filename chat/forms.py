"""HTML forms: create a room, and the moderators' actions from the room page."""

from __future__ import annotations

from datetime import datetime, timedelta

from django import forms
from django.core.validators import RegexValidator
from django.utils import timezone

from chat.models import Room

SLUG_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
SLUG_HELP = (
    "Lowercase letters, digits and single hyphens, e.g. “book-club”. It becomes the room’s address."
)
# Longest sanction the room page offers; anything longer is "until lifted" (no minutes).
MAX_SANCTION_MINUTES = 60 * 24 * 365


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
        label="Private (only people you invite can enter)", required=False
    )

    def clean_slug(self) -> str:
        slug = self.cleaned_data["slug"]
        if slug.startswith("dm-"):
            # Direct messages' addresses (chat.direct.pair_slug): a room there would
            # take a DM's place.
            raise forms.ValidationError(
                "Addresses starting with “dm-” are kept for direct messages.", code="reserved"
            )
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


# How long a mute or ban lasts, as the room page and the admin offer it: minutes, or
# "" for until lifted. One list, so the three places offer the same choices.
SANCTION_PRESETS = (
    ("10", "10 minutes"),
    ("60", "1 hour"),
    ("1440", "1 day"),
    ("10080", "1 week"),
    ("", "until lifted"),
)


def sanction_until(minutes: int | str | None, *, now: datetime | None = None) -> datetime | None:
    """The end of a mute or ban lasting ``minutes`` from now (falsy: until lifted)."""
    if not minutes:
        return None
    return (now or timezone.now()) + timedelta(minutes=int(minutes))


class SanctionPresetField(forms.TypedChoiceField):
    """How long, from ``SANCTION_PRESETS``: cleans to minutes, or None for until lifted."""

    def __init__(self, *, initial: str = "", label: str = "for how long", **kwargs) -> None:
        super().__init__(
            choices=SANCTION_PRESETS,
            coerce=int,
            empty_value=None,
            required=False,
            initial=initial,
            label=label,
            **kwargs,
        )


class SanctionAdminForm(forms.ModelForm):
    """The admin's add/change form of a ban or mute: a preset length, or an exact end.

    A preset sets ``until`` from now; "until the date below" (the default, and what
    a POST without ``length`` means) keeps the Until typed below it (empty: until
    lifted).
    """

    EXACT = "exact"
    FOREVER = "forever"  # SANCTION_PRESETS' "" (until lifted): "" here means "not chosen"
    length = forms.ChoiceField(
        label="For how long",
        choices=(
            (EXACT, "until the date below"),
            *[(minutes or "forever", label) for minutes, label in SANCTION_PRESETS],
        ),
        initial=EXACT,
        required=False,
        help_text="A preset counts from when you save; “until the date below” uses Until.",
    )

    def clean(self):
        data = super().clean()
        length = data.get("length") or self.EXACT
        if length == self.FOREVER:
            data["until"] = None
        elif length != self.EXACT:
            data["until"] = sanction_until(length)
        return data


class SanctionForm(forms.Form):
    """A moderator's mute or ban: how long (empty: until lifted) and why."""

    minutes = forms.IntegerField(min_value=1, max_value=MAX_SANCTION_MINUTES, required=False)
    reason = forms.CharField(max_length=500, required=False)


class ReasonForm(forms.Form):
    """A moderator's reason for deleting a message (optional)."""

    reason = forms.CharField(max_length=500, required=False)

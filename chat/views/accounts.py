"""Account views that wrap Django's own: password reset behind the sign-in throttle."""

from __future__ import annotations

from django.contrib.auth import views as auth_views

from chat import signin
from chat.client_address import request_address


class ThrottledPasswordResetView(auth_views.PasswordResetView):
    """Django's password reset, at most ``signin.RESET_LIMIT`` mails per address and e-mail."""

    def form_valid(self, form):
        """Send the mail unless this address or e-mail asked too often."""
        refusal = signin.reset_throttled(
            address=request_address(self.request), email=form.cleaned_data["email"]
        )
        if refusal is not None:
            form.add_error("email", refusal)  # the stock template shows field errors only
            return self.form_invalid(form)
        return super().form_valid(form)

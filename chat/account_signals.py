"""A user's WebSockets end with the access that opened them.

Signing out closes the sockets of that session; deactivating a user or setting a
new password closes all of the user's sockets (4401, on every process), and a new
password also revokes the user's API tokens, as Django's sessions end with it.
Connected in ``ChatConfig.ready``.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.signals import user_logged_out
from django.db.models.signals import post_save
from django.dispatch import receiver

from chat import services
from chat.models import ApiToken


@receiver(user_logged_out, dispatch_uid="chat-signed-out")
def signed_out(sender, request, user, **kwargs) -> None:
    """Close the sockets opened with the session that is ending."""
    session = getattr(request, "session", None)
    key = getattr(session, "session_key", None)
    if user is not None and key:
        services.sign_out_connections(user_id=user.pk, session_key=key)


@receiver(post_save, sender=settings.AUTH_USER_MODEL, dispatch_uid="chat-user-saved")
def user_saved(sender, instance, created, update_fields=None, **kwargs) -> None:
    """Deactivated, or a new password: every socket closes; a new password revokes tokens."""
    if created or (
        update_fields is not None and not {"is_active", "password"} & set(update_fields)
    ):
        return  # a sign-in's last_login, say
    # set_password keeps the new raw password in _password until save() is done.
    new_password = getattr(instance, "_password", None) is not None
    if not instance.is_active or new_password:
        services.sign_out_connections(user_id=instance.pk)
    if new_password:
        services.revoke_tokens(tokens=ApiToken.objects.filter(user_id=instance.pk))

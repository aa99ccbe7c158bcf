"""Throttle password guessing wherever a password is checked.

``ThrottledModelBackend`` is the site's authentication backend, so every
``authenticate()`` call is throttled: the sign-in form, the admin's, ``POST
/api/token``. Each attempt is reserved in three sliding windows *before* the
password hasher runs, so concurrent guesses cannot all slip in under the limit
and a refused guess costs no hashing:

- the account from one client address (``PAIR_LIMIT``): a guesser is stopped at
  once on the account it attacks, and only from where it attacks;
- the client address (``ADDRESS_LIMIT``): one address spraying many accounts;
- the account (``ACCOUNT_LIMIT``): guesses spread over many addresses.

A correct password hands back its reservations and clears its pair, so people
behind one address signing in do not use up each other's tries, and only an
attacker with several addresses can hold an account's window full; it empties
``PERIOD`` seconds after the attack stops. The windows live in Redis in Redis mode
(every process counts together) and in process memory in embedded mode (one
process). A Redis outage fails open, logged: sign-in must not depend on Redis.
"""

from __future__ import annotations

import hashlib
import logging
import math
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import ValidationError
from redis.exceptions import RedisError

from chat.client_address import request_address
from chat.stores.sliding_window import new_member, shared_windows

logger = logging.getLogger(__name__)

PERIOD = 300  # seconds
PAIR_LIMIT = 5
ADDRESS_LIMIT = 20
ACCOUNT_LIMIT = 20
RESET_LIMIT = 5  # password-reset mails per address and per e-mail address
PREFIX = "chat:v1:signin"


class SignInThrottled(ValidationError):
    """Too many attempts: a form shows the sentence; the JSON API answers 429."""

    def __init__(self, retry_after: float) -> None:
        self.retry_after = max(1, math.ceil(retry_after))
        super().__init__(
            f"Too many sign-in attempts. Try again in {self.retry_after} seconds.",
            code="throttled",
        )


def _digest(text: str) -> str:
    # Keys must be short and safe whatever a client sends as a name.
    return hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()[:32]


@dataclass(slots=True)
class Attempt:
    """One password check's reservations."""

    keys: tuple[str, str, str]  # pair, address, account
    member: str

    def succeeded(self) -> None:
        """Give the reservations back and forget the pair's failures."""
        try:
            windows = shared_windows()
            windows.clear(self.keys[0])
            for key in self.keys[1:]:
                windows.release(key, self.member)
        except (RedisError, OSError) as exc:
            logger.warning("sign-in throttle unavailable: %r", exc)


def reserve(*, address: str, username: str) -> Attempt:
    """Reserve one password check, or raise ``SignInThrottled``."""
    account = _digest(username.casefold())
    address = address or "-"
    keys = (
        f"{PREFIX}:pair:{_digest(address)}:{account}",
        f"{PREFIX}:ip:{_digest(address)}",
        f"{PREFIX}:user:{account}",
    )
    attempt = Attempt(keys=keys, member=new_member())
    try:
        windows = shared_windows()
        for key, limit in zip(keys, (PAIR_LIMIT, ADDRESS_LIMIT, ACCOUNT_LIMIT), strict=True):
            wait = windows.hit(key, limit=limit, period=PERIOD, member=attempt.member)
            if wait is not None:
                logger.info("sign-in throttled username=%r ip=%s", username[:150], address)
                raise SignInThrottled(wait)
    except (RedisError, OSError) as exc:
        logger.warning("sign-in throttle unavailable: %r", exc)
    return attempt


def reset_throttled(*, address: str, email: str) -> SignInThrottled | None:
    """Count a password-reset request; the refusal when over ``RESET_LIMIT``."""
    try:
        windows = shared_windows()
        for key in (
            f"{PREFIX}:reset-ip:{_digest(address or '-')}",
            f"{PREFIX}:reset-mail:{_digest(email.casefold())}",
        ):
            wait = windows.hit(key, limit=RESET_LIMIT, period=PERIOD)
            if wait is not None:
                return SignInThrottled(wait)
    except (RedisError, OSError) as exc:
        logger.warning("sign-in throttle unavailable: %r", exc)
    return None


class ThrottledModelBackend(ModelBackend):
    """Django's ``ModelBackend`` behind the sign-in throttle (see the module docstring)."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        """The user, or None; raises ``SignInThrottled`` without checking the password."""
        if username is None:
            username = kwargs.get(get_user_model().USERNAME_FIELD)
        if username is None or password is None:
            return None
        address = request_address(request) if request is not None else ""
        attempt = reserve(address=address, username=str(username))
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is not None:
            attempt.succeeded()
        return user

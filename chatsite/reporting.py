"""Django's debug-page filter, also hiding settings that hold connection URLs."""

import re

from django.views.debug import SafeExceptionReporterFilter


class RedactingExceptionReporterFilter(SafeExceptionReporterFilter):
    """Hide URLs, addresses and locations as well: ``REDIS_URL`` holds the Redis password."""

    hidden_settings = re.compile(
        "API|TOKEN|KEY|SECRET|PASS|SIGNATURE|HTTP_COOKIE|URL|LOCATION|ADDRESS|HOSTS", flags=re.I
    )

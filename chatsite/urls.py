from django.contrib import admin
from django.urls import include, path

from chat.views.accounts import ThrottledPasswordResetView

urlpatterns = [
    path("admin/", admin.site.urls),
    # Before Django's auth URLs: the reset request is throttled (chat.signin).
    path("accounts/password_reset/", ThrottledPasswordResetView.as_view(), name="password_reset"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("", include("chat.urls")),
]

"""The demo site's URLs: the admin, Django's auth views plus a sign-up page, the chat."""

from django.contrib import admin
from django.urls import include, path

from chat.views.accounts import ThrottledPasswordResetView
from chatsite import signup

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/signup/", signup.signup, name="signup"),
    # Before Django's auth URLs: the reset request is throttled (chat.signin).
    path("accounts/password_reset/", ThrottledPasswordResetView.as_view(), name="password_reset"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("", include("chat.urls")),
]

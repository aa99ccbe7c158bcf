"""The demo site's URLs: the admin, Django's auth views plus a sign-up page, the chat."""

from django.contrib import admin
from django.urls import include, path

from chatsite import signup

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/signup/", signup.signup, name="signup"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("", include("chat.urls")),
]

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model

from chat import history, presence, ratelimit, services
from chat.models import Room


@pytest.fixture(autouse=True)
def fresh_backends(settings):
    """Per-process caches are bound to an event loop; each test has its own."""
    history.reset_cache()
    presence.reset()
    ratelimit.reset()
    yield
    history.reset_cache()
    presence.reset()
    ratelimit.reset()


@pytest.fixture
def make_user(db):
    def make(username: str, **extra):
        return get_user_model().objects.create_user(
            username=username, password="pw-" + username, **extra
        )

    return make


@pytest.fixture
def make_token():
    def make(user):
        return services.issue_token(user=user)

    return make


@pytest.fixture
def make_room(db):
    def make(slug: str = "lobby", **extra):
        return Room.objects.create(slug=slug, title=slug.title(), **extra)

    return make


@pytest.fixture
def alice(make_user):
    return make_user("alice")


@pytest.fixture
def bob(make_user):
    return make_user("bob")


@pytest.fixture
def alice_token(alice, make_token):
    return make_token(alice)


@pytest.fixture
def bob_token(bob, make_token):
    return make_token(bob)


@pytest.fixture
def room(make_room):
    return make_room("general")


adb = sync_to_async

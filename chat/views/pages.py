"""HTML pages: lobby, room, create room, sign-up."""

from django.http import HttpResponse


def lobby(request):
    return HttpResponse("lobby")


def room(request, slug):
    return HttpResponse("room")


def create_room(request):
    return HttpResponse("create")


def signup(request):
    return HttpResponse("signup")

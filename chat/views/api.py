"""JSON API: token exchange and history pages."""

from django.http import JsonResponse


def token(request):
    return JsonResponse({})


def messages(request, slug):
    return JsonResponse({})

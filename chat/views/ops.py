"""Operations endpoints: health and metrics."""

from django.http import JsonResponse


def healthz(request):
    return JsonResponse({"status": "ok"})


def metrics(request):
    return JsonResponse({})

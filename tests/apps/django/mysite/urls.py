import os

import django
from django.http import HttpResponse
from django.urls import path


def index(request):
    return HttpResponse(
        "django %s on %s\n" % (django.get_version(), os.environ.get("JIB_BRANCH", "?")),
        content_type="text/plain",
    )


urlpatterns = [path("", index)]

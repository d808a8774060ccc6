"""The site's pages: server-rendered shells that the browser fills from the REST API and the live
socket as the logged-in user (static/portfolio/*.js). No page reads another user's data: each one
only reaches the API, which scopes everything to the session's user."""

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from portfolio.domain.lots import Method


@login_required
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "portfolio/home.html", {"quote_asset": settings.QUOTE_ASSET})


@login_required
def history(request: HttpRequest) -> HttpResponse:
    return render(request, "portfolio/history.html", {"quote_asset": settings.QUOTE_ASSET})


@login_required
def report(request: HttpRequest) -> HttpResponse:
    year = timezone.now().year
    return render(
        request,
        "portfolio/report.html",
        {
            "quote_asset": settings.QUOTE_ASSET,
            "years": range(year, year - 10, -1),
            "methods": [m.value for m in Method],
        },
    )


@login_required
def markets(request: HttpRequest) -> HttpResponse:
    return render(request, "portfolio/markets.html", {"max_watched": settings.WS_MAX_WATCHED_SYMBOLS})

"""tradingsite: the Django project package (settings, urls, asgi, the Celery app)."""

from tradingsite.celery import app as celery_app

__all__ = ["celery_app"]

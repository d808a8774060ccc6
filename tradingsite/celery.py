"""The Celery application. Configuration comes from Django settings (the CELERY_* names)."""

import os

from celery import Celery, Task, signals

from tradingsite.lib import logs

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tradingsite.settings")

app = Celery("tradingsite")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
logs.celery_signals()


@signals.worker_process_init.connect
def _channel_layer_on_one_loop(**kwargs: object) -> None:
    from tradingsite.lib.layer import use_background_loop

    use_background_loop()


@signals.task_prerun.connect
@signals.task_postrun.connect
def _database_connections_back_to_pool(task: Task | None = None, **kwargs: object) -> None:
    """Hand the task's connection back to the pool (or close it if broken), as Django does at the end
    of a request: each task starts on a checked, healthy connection without opening a new one.
    Eager tasks (embedded mode) run inside the caller's request and leave its connection alone."""
    from django.db import close_old_connections

    if task is not None and not getattr(task.request, "is_eager", False):
        close_old_connections()

"""Celery tasks: thin wrappers that take ids and call services (execution is idempotent)."""

from celery import shared_task
from django.db import InterfaceError, OperationalError

from portfolio import services


@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    retry_backoff_max=10,
    max_retries=10,
)
def order_execute(order_id: int) -> str:
    return str(services.order_execute(order_id=order_id).status)


@shared_task
def orders_requeue_stale() -> int:
    return services.orders_requeue_stale()


@shared_task
def orders_expire() -> int:
    return services.orders_expire()


@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    retry_backoff_max=30,
    max_retries=10,
)
def realized_report_build(report_id: str) -> str:
    return services.realized_report_build(report_id=report_id)

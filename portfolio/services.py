"""Writes of the trading core (ARCHITECTURE §6). Nothing else saves Order, Position, Trade or Account.

Acceptance (`order_place`, in the request): validate, read the price from the price store, check
buying power under the account's row lock, insert the pending order, commit, enqueue on commit.
Execution (`order_execute`, in a Celery worker): lock the order, the account and the position, apply
the fill (portfolio.domain.fills), write trades, positions and cash in one transaction. Running it
twice changes nothing the second time.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

import orjson
from django.conf import settings
from django.db import IntegrityError, InterfaceError, OperationalError, transaction
from django.utils import timezone

from accounts.models import User
from portfolio import selectors
from portfolio.domain.fills import Book, FillOutcome, Side, apply_fill
from portfolio.domain.lots import Method
from portfolio.domain.orders import (
    PendingOrder,
    RuleViolation,
    check_buying_power,
    check_size,
    parse_quantity,
    project_pending,
)
from portfolio.models import Account, Order, Position, RealizedReport, Trade, WatchedSymbol
from portfolio.payloads import order_payload
from pricefeed.bus import get_bus
from pricefeed.domain import Tick, now_ms
from pricefeed.models import Symbol
from pricefeed.selectors import symbol_get
from tradingsite import metrics
from tradingsite.lib.compiled import MARKER, CompiledValues
from tradingsite.lib.errors import ApplicationError
from tradingsite.lib.layer import group_send
from tradingsite.lib.numbers import decimal_str

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class OrderRequest:
    symbol: str
    side: str
    quantity: str
    client_order_id: str | None = None
    reduce_only: bool = False


def _violation(error: RuleViolation) -> ApplicationError:
    return ApplicationError(error.code, error.message, error.details)


# --- accounts ------------------------------------------------------------------------------------


def account_for_update(*, user_id: int) -> Account:
    """The user's account row, locked until the end of the transaction (created on first use)."""
    account = Account.objects.select_for_update().filter(user_id=user_id).first()
    if account is not None:
        return account
    _account_create(user_id)
    return Account.objects.select_for_update().get(user_id=user_id)


def account_cash_for_update(*, user_id: int) -> Decimal:
    """account_for_update()'s lock, for a reader of the cash alone (the acceptance): one compiled
    query instead of the ORM building it and a model instance."""
    for _ in range(2):
        rows = _ACCOUNT_CASH_FOR_UPDATE.rows(user_id=user_id)
        if rows:
            cash: Decimal = rows[0][0]
            return cash
        _account_create(user_id)
    raise Account.DoesNotExist(user_id)


def _account_create(user_id: int) -> None:
    try:
        with transaction.atomic():
            Account.objects.create(user_id=user_id, cash=settings.STARTING_BALANCE, quote_asset=settings.QUOTE_ASSET)
    except IntegrityError:
        pass  # created concurrently


def account_preferences_update(*, user: User, cost_basis_method: str) -> Account:
    """The user's default method for the realized-gains report."""
    if cost_basis_method not in Method.__members__.values():
        raise ApplicationError("method_invalid", "Use fifo, lifo, hifo or average.", {"method": cost_basis_method})
    with transaction.atomic():
        account = account_for_update(user_id=user.pk)
        account.cost_basis_method = cost_basis_method
        account.save(update_fields=["cost_basis_method", "updated_at"])
    return account


# --- the watch list ------------------------------------------------------------------------------


def watchlist_add(*, user: User, symbol: str) -> list[str]:
    """Adds a listed symbol to the user's watch list (already there: unchanged); at most
    WS_MAX_WATCHED_SYMBOLS, as many as one socket streams."""
    name = symbol.upper()
    if not Symbol.objects.filter(symbol=name).exists():
        raise ApplicationError("symbol_unknown", f"{name} is not listed.", {"symbol": symbol[:20]})
    with transaction.atomic():
        account_for_update(user_id=user.pk)  # one change of this user's list at a time: the cap holds
        watched = selectors.watchlist(user_id=user.pk)
        if name in watched:
            return watched
        if len(watched) >= settings.WS_MAX_WATCHED_SYMBOLS:
            raise ApplicationError(
                "watchlist_full",
                f"A watch list holds at most {settings.WS_MAX_WATCHED_SYMBOLS} symbols.",
                {"limit": settings.WS_MAX_WATCHED_SYMBOLS},
            )
        WatchedSymbol.objects.create(user_id=user.pk, symbol_id=name)
    return [*watched, name]


def watchlist_remove(*, user: User, symbol: str) -> list[str]:
    """Removes a symbol from the user's watch list (not there: unchanged)."""
    WatchedSymbol.objects.filter(user_id=user.pk, symbol_id=symbol.upper()).delete()
    return selectors.watchlist(user_id=user.pk)


# --- realized-gains reports built by a worker ---------------------------------------------------


def realized_report_request(*, user: User, year: int, method: Method) -> RealizedReport:
    """A report for the workers to build; the same question over an unchanged history (no newer
    trade) reuses the last report asked for, built or still being built."""
    through, count = selectors.report_history(user_id=user.pk, year=year)
    stale = timezone.now() - timedelta(seconds=settings.REPORT_RETRY_AFTER_SECONDS)
    existing = (
        RealizedReport.objects.filter(user=user, year=year, method=method.value, through_trade_id=through)
        .exclude(status=RealizedReport.Status.FAILED)
        .exclude(status=RealizedReport.Status.PENDING, created_at__lt=stale)
        .order_by("-created_at")
        .first()
    )
    if existing is not None:
        return existing
    report = RealizedReport.objects.create(
        user=user, year=year, method=method.value, through_trade_id=through, trade_count=count
    )
    transaction.on_commit(lambda: _enqueue_report(report.pk))
    return report


def _enqueue_report(report_id: uuid.UUID) -> None:
    from portfolio.tasks import realized_report_build

    try:
        realized_report_build.delay(str(report_id))
    except Exception:
        # Still pending: the next request for it after REPORT_RETRY_AFTER_SECONDS asks again.
        logger.exception("could not enqueue report %s", report_id)


def realized_report_build(*, report_id: str) -> str:
    """Replays the trades into the report and stores it. Deterministic, so a task run twice (a worker
    lost mid-way) stores the same report; only a pending report is written."""
    report = RealizedReport.objects.filter(pk=report_id, status=RealizedReport.Status.PENDING).first()
    if report is None:
        return "done"
    pending = RealizedReport.objects.filter(pk=report_id, status=RealizedReport.Status.PENDING)
    try:
        built = selectors.realized_report(user_id=report.user_id, year=report.year, method=Method(report.method))
    except (OperationalError, InterfaceError):
        raise  # the database is away: the task retries
    except Exception as error:
        logger.exception("report %s failed", report_id)
        pending.update(status=RealizedReport.Status.FAILED, error=type(error).__name__, finished_at=timezone.now())
        return "failed"
    payload = orjson.dumps(built).decode()
    pending.update(status=RealizedReport.Status.READY, payload=payload, finished_at=timezone.now())
    return "ready"


# --- acceptance ----------------------------------------------------------------------------------


def order_place(*, user: User, request: OrderRequest) -> tuple[Order, bool]:
    """Returns (order, created). The same client_order_id with the same body returns the original."""
    client_order_id = request.client_order_id or uuid.uuid4().hex
    try:
        quantity = parse_quantity(request.quantity)
    except RuleViolation as error:
        raise _violation(error) from None
    side = Side(request.side)
    if request.client_order_id and _ORDER_BY_CLIENT_ID.rows(user_id=user.pk, client_order_id=client_order_id):
        # (a generated id is new by construction; a known one is rare: then the order is read)
        existing = Order.objects.get(user=user, client_order_id=client_order_id)
        return _same_order(existing, request, quantity), False
    symbol = _tradable_symbol(request.symbol)
    tick = _fresh_price(symbol.symbol)
    try:
        with transaction.atomic():
            order = _insert_order(user, client_order_id, symbol, side, quantity, tick, request.reduce_only)
    except IntegrityError:
        # A concurrent request with the same client_order_id won the insert.
        existing = Order.objects.get(user=user, client_order_id=client_order_id)
        return _same_order(existing, request, quantity), False
    return order, True


def _insert_order(
    user: User, client_order_id: str, symbol: Symbol, side: Side, quantity: Decimal, tick: Tick, reduce_only: bool
) -> Order:
    cash = account_cash_for_update(user_id=user.pk)  # serializes this user's acceptances
    books = _open_books(user.pk)
    held = books.get(symbol.symbol, (Decimal(0), Decimal(0)))[0]
    try:
        check_size(
            quantity, tick.price, side, held=held, step_size=symbol.step_size, min_qty=symbol.min_qty,
            min_notional=symbol.min_notional,
        )  # fmt: skip
        rules = (symbol.symbol, side, quantity, tick.price, settings.FEE_RATE, reduce_only)
        _check_order_rules(cash, books, *rules, pending=_pending_orders(user.pk))
    except RuleViolation as error:
        raise _violation(error) from None
    order = Order.objects.create(
        user=user,
        client_order_id=client_order_id,
        symbol=symbol,
        side=side.value,
        quantity=quantity,
        reduce_only=reduce_only,
        price=tick.price,
        price_ts=tick.event_ts,
        fee_rate=settings.FEE_RATE,
    )
    transaction.on_commit(lambda: _enqueue(order.pk))
    transaction.on_commit(lambda: metrics.order_event("accepted"))
    return order


def _enqueue(order_id: int) -> None:
    from portfolio.tasks import order_execute

    try:
        order_execute.delay(order_id)
    except Exception:
        # The order is committed: beat hands it to the workers again (orders_requeue_stale).
        logger.exception("could not enqueue order %s; beat will retry", order_id)


def _same_order(existing: Order, request: OrderRequest, quantity: Decimal) -> Order:
    same = (
        existing.symbol_id == request.symbol
        and existing.side == request.side
        and existing.quantity == quantity
        and existing.reduce_only == request.reduce_only
    )
    if not same:
        raise ApplicationError(
            "client_order_id_conflict",
            "This client_order_id was already used for a different order.",
            {"order_id": existing.pk},
        )
    return existing


def _tradable_symbol(name: str) -> Symbol:
    symbol = symbol_get(name)
    if symbol is None:
        raise ApplicationError("symbol_unknown", f"Unknown symbol {name!r}.", {"symbol": name})
    if symbol.status != Symbol.Status.TRADING:
        raise ApplicationError("symbol_halted", f"{name} is not trading ({symbol.status}).", {"symbol": name})
    return symbol


def _fresh_price(symbol: str) -> Tick:
    tick = get_bus().get_many([symbol]).get(symbol)
    max_age_ms = settings.PRICE_MAX_AGE_SECONDS * 1000
    if tick is None or now_ms() - tick.received_ts > max_age_ms:
        raise ApplicationError(
            "price_stale",
            f"No price for {symbol} newer than {settings.PRICE_MAX_AGE_SECONDS}s: try again shortly.",
            {"symbol": symbol, "price_ts": tick.event_ts if tick else None},
        )
    return tick


# The acceptance's per-user reads, compiled once (tradingsite/lib/compiled.py).
_OPEN_BOOKS = CompiledValues(
    lambda user_id: Position.objects.filter(user_id=user_id, status=Position.Status.OPEN).values_list(
        "symbol_id", "quantity", "avg_entry_price"
    ),
    user_id=MARKER,
)
_ORDER_BY_CLIENT_ID = CompiledValues(
    lambda user_id, client_order_id: Order.objects.filter(user_id=user_id, client_order_id=client_order_id).values_list(
        "id"
    ),
    user_id=MARKER,
    client_order_id=str(MARKER),
)
_ACCOUNT_CASH_FOR_UPDATE = CompiledValues(
    lambda user_id: Account.objects.select_for_update().filter(user_id=user_id).values_list("cash"),
    user_id=MARKER,
)
_PENDING_ORDERS = CompiledValues(
    lambda user_id: Order.objects.filter(user_id=user_id, status=Order.Status.PENDING).values_list(
        "symbol_id", "side", "quantity", "price", "fee_rate"
    ),
    user_id=MARKER,
)


def _open_books(user_id: int) -> dict[str, tuple[Decimal, Decimal]]:
    """symbol → (quantity, average entry price) of the user's open positions."""
    return {symbol: (quantity, average) for symbol, quantity, average in _OPEN_BOOKS.rows(user_id=user_id)}


def _pending_orders(user_id: int) -> list[PendingOrder]:
    rows = _PENDING_ORDERS.rows(user_id=user_id)
    return [PendingOrder(symbol, Side(side), quantity, price, rate) for symbol, side, quantity, price, rate in rows]


def _marks(
    symbols: set[str], books: dict[str, tuple[Decimal, Decimal]], pending: list[PendingOrder], known: dict[str, Decimal]
) -> dict[str, Decimal]:
    """Prices to value the user's positions: the order's snapshot, else the store, else the entry (or
    a pending order's snapshot)."""
    prices = dict(known)
    prices.update({s: t.price for s, t in get_bus().get_many([s for s in symbols if s not in known]).items()})
    for symbol, (_, average) in books.items():
        prices.setdefault(symbol, average)
    for order in pending:
        prices.setdefault(order.symbol, order.price)
    return prices


def _check_reduce_only(open_quantity: Decimal, side: Side, quantity: Decimal) -> None:
    closing_side = Side.SELL if open_quantity > 0 else Side.BUY
    if open_quantity == 0 or side is not closing_side or quantity > open_quantity.copy_abs():
        raise RuleViolation(
            "position_insufficient",
            "A close can only reduce an open position, by at most its quantity.",
            {"open_quantity": decimal_str(open_quantity)},
        )


# --- execution (Celery worker) ---------------------------------------------------------------------


def order_execute(*, order_id: int) -> Order:
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order_id)
        if order.status != Order.Status.PENDING:
            return order  # already done: a redelivered or requeued task changes nothing
        if timezone.now() - order.created_at > timedelta(seconds=settings.ORDER_TTL_SECONDS):
            return _finish(order, Order.Status.EXPIRED, "order_expired")
        account = account_for_update(user_id=order.user_id)
        position = (
            Position.objects.select_for_update()
            .filter(user_id=order.user_id, symbol_id=order.symbol_id, status=Position.Status.OPEN)
            .first()
        )
        side = Side(order.side)
        try:
            rules = (order.symbol_id, side, order.quantity, order.price, order.fee_rate, order.reduce_only)
            _check_order_rules(account.cash, _open_books(order.user_id), *rules, pending=[])
        except RuleViolation as error:
            return _finish(order, Order.Status.REJECTED, error.code)
        book = _book(position)
        outcome = apply_fill(book, side, order.quantity, order.price, order.fee_rate)
        _record_fill(order, position, outcome)
        account.cash += outcome.cash_delta
        account.save(update_fields=["cash", "updated_at"])
        return _finish(order, Order.Status.FILLED, "")


def _check_order_rules(
    account_cash: Decimal,
    books: dict[str, tuple[Decimal, Decimal]],
    symbol: str,
    side: Side,
    quantity: Decimal,
    price: Decimal,
    fee_rate: Decimal,
    reduce_only: bool,
    *,
    pending: list[PendingOrder],
) -> None:
    """The rules that depend on what the user holds, at acceptance (counting the user's pending orders
    as if filled) and again at the fill (against what is held then)."""
    held = {symbol: quantity for symbol, (quantity, _) in books.items()}
    if reduce_only:
        _check_reduce_only(held.get(symbol, Decimal(0)), side, quantity)
        return
    cash, projected = project_pending(account_cash, held, pending)
    check_buying_power(
        cash=cash,
        positions=projected,
        prices=_marks(set(projected), books, pending, {symbol: price}),
        symbol=symbol,
        side=side,
        quantity=quantity,
        fee_rate=fee_rate,
        max_leverage=settings.MAX_LEVERAGE,
    )


def _book(position: Position | None) -> Book:
    if position is None:
        return Book()
    return Book(
        position.quantity, position.cost_basis, position.realized_pnl, position.fees_paid, position.avg_entry_price
    )


def _record_fill(order: Order, position: Position | None, outcome: FillOutcome) -> None:
    """One trade per part. A fill that closes the position closes that record; what it opens beyond
    zero (a crossing fill) is a new position record."""
    now = timezone.now()
    targets: list[Position] = []
    if outcome.closed is not None:
        assert position is not None
        _apply_book(position, outcome.closed)
        position.status, position.closed_at, position.exit_price = Position.Status.CLOSED, now, order.price
        position.save()
        targets.append(position)
        position = None
    if not outcome.book.is_flat:
        position = position or Position(user_id=order.user_id, symbol_id=order.symbol_id, opened_at=now)
        _apply_book(position, outcome.book)
        position.save()
        targets.append(position)
    for part, target in zip(outcome.parts, targets, strict=True):
        Trade.objects.create(
            user_id=order.user_id,
            order=order,
            position=target,
            symbol_id=order.symbol_id,
            side=part.side.value,
            quantity=part.quantity,
            price=part.price,
            fee=part.fee,
            fee_currency=settings.QUOTE_ASSET,
            realized_pnl_gross=part.realized_pnl_gross,
            realized_pnl_net=part.realized_pnl_net,
            executed_at=now,
        )


def _apply_book(position: Position, book: Book) -> None:
    position.quantity, position.cost_basis = book.quantity, book.cost_basis
    position.realized_pnl, position.fees_paid = book.realized_pnl, book.fees_paid
    position.avg_entry_price = book.avg_entry_price


def _finish(order: Order, status: str, reason: str) -> Order:
    order.status, order.reject_reason = status, reason
    if status == Order.Status.FILLED:
        order.filled_at = timezone.now()
    order.save(update_fields=["status", "reject_reason", "filled_at", "updated_at"])
    user_id, payload = order.user_id, order_payload(order)
    transaction.on_commit(lambda: _notify_user(user_id, payload, positions_changed=status == Order.Status.FILLED))
    waited = (order.filled_at - order.created_at).total_seconds() if order.filled_at else None
    transaction.on_commit(lambda: metrics.order_event(status, waited))
    return order


def _notify_user(user_id: int, order: dict[str, object], *, positions_changed: bool) -> None:
    messages: list[dict[str, object]] = [{"type": "order.updated", "order": order}]
    if positions_changed:
        messages.append({"type": "portfolio.changed"})
    try:
        group_send(f"user.{user_id}", *messages)
    except Exception:
        logger.exception("could not notify user %s of order %s", user_id, order.get("id"))


# --- beat --------------------------------------------------------------------------------------


def orders_requeue_stale() -> int:
    """Pending orders whose task may be lost go to the workers again (execution is idempotent)."""
    now = timezone.now()
    ids = list(
        Order.objects.filter(
            status=Order.Status.PENDING,
            created_at__lt=now - timedelta(seconds=settings.ORDER_REQUEUE_AFTER_SECONDS),
        ).values_list("pk", flat=True)[:1000]
    )
    for order_id in ids:
        _enqueue(order_id)
    return len(ids)


def orders_expire() -> int:
    cutoff = timezone.now() - timedelta(seconds=settings.ORDER_TTL_SECONDS)
    ids = list(Order.objects.filter(status=Order.Status.PENDING, created_at__lt=cutoff).values_list("pk", flat=True))
    for order_id in ids:
        order_execute(order_id=order_id)  # past its TTL: this marks it expired
    return len(ids)


# --- closing positions -------------------------------------------------------------------------


def position_close(*, user: User, symbol: str, quantity: str | None = None, percentage: str | None = None) -> Order:
    """A reduce-only market order for part or all of the open position; never flips it."""
    position = Position.objects.filter(user=user, symbol_id=symbol, status=Position.Status.OPEN).first()
    if position is None:
        raise ApplicationError("position_not_found", f"No open {symbol} position.")
    open_quantity = position.quantity.copy_abs()
    amount = _close_quantity(open_quantity, quantity, percentage, position.symbol.step_size)
    side = Side.SELL if position.quantity > 0 else Side.BUY
    request = OrderRequest(symbol, side.value, decimal_str(amount), f"close-{uuid.uuid4().hex}", True)
    order, _ = order_place(user=user, request=request)
    return order


@dataclass(frozen=True, slots=True)
class CloseOutcome:
    """One symbol of a close-all: the accepted order, or why it was refused."""

    symbol: str
    order: Order | None = None
    error: ApplicationError | None = None


def positions_close_all(*, user: User) -> list[CloseOutcome]:
    """Closes every open position, each as its own order: one refusal (a stale price, say) does not
    stop the others, and the outcome says which were accepted and why the rest were not."""
    symbols = Position.objects.filter(user=user, status=Position.Status.OPEN).order_by("symbol_id")
    outcomes = []
    for symbol in list(symbols.values_list("symbol_id", flat=True)):
        try:
            outcomes.append(CloseOutcome(symbol, order=position_close(user=user, symbol=symbol)))
        except ApplicationError as error:
            outcomes.append(CloseOutcome(symbol, error=error))
    return outcomes


def _close_quantity(open_quantity: Decimal, quantity: str | None, percentage: str | None, step: Decimal) -> Decimal:
    if quantity is not None and percentage is not None:
        raise ApplicationError("invalid_input", "Give quantity or percentage, not both.")
    if percentage is not None:
        try:
            share = parse_quantity(percentage)
        except RuleViolation:
            share = Decimal(-1)
        if not 0 < share <= 100:
            raise ApplicationError("percentage_invalid", 'Give a percentage above 0, at most 100, like "25".')
        amount = open_quantity if share == 100 else (open_quantity * share / 100 // step) * step
    elif quantity is not None:
        try:
            amount = parse_quantity(quantity)
        except RuleViolation as error:
            raise _violation(error) from None
    else:
        amount = open_quantity
    if amount <= 0:
        raise ApplicationError("quantity_below_minimum", "That percentage rounds to nothing.")
    if amount > open_quantity:
        raise ApplicationError(
            "position_insufficient",
            "A close can only reduce an open position, by at most its quantity.",
            {"open_quantity": decimal_str(open_quantity)},
        )
    return amount


# --- demo data -----------------------------------------------------------------------------------


def demo_positions_seed(*, user: User, holdings: list[tuple[str, Decimal, Decimal]]) -> list[Position]:
    """Give a user open positions (symbol, signed quantity, entry price) if they hold none yet, through
    real fills at those prices: cash, trades and positions agree as for any other user."""
    if not Position.objects.filter(user=user, status=Position.Status.OPEN).exists():
        for symbol, quantity, price in holdings:
            with transaction.atomic():
                account_for_update(user_id=user.pk)
                order = Order.objects.create(
                    user=user,
                    client_order_id=f"demo-{symbol}",
                    symbol_id=symbol,
                    side=(Side.BUY if quantity > 0 else Side.SELL).value,
                    quantity=quantity.copy_abs(),
                    price=price,
                    price_ts=now_ms(),
                    fee_rate=settings.FEE_RATE,
                )
            order_execute(order_id=order.pk)
    return list(Position.objects.filter(user=user, status=Position.Status.OPEN))

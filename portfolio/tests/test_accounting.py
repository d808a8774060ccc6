"""ACCOUNTING.md as tests: its worked examples, each rule, and invariants over random fill sequences."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portfolio.domain.fills import Book, Side, apply_fill, fee_for, split_fee
from portfolio.domain.lots import Lot, Method, close_lots, open_lot
from portfolio.domain.marks import Holding, mark
from portfolio.domain.orders import RuleViolation, check_buying_power, check_lot, check_notional, parse_quantity

BUY, SELL = Side.BUY, Side.SELL
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def run(fills: list[tuple[Side, str, str]], fee_rate: str = "0") -> tuple[Book, D, list]:
    """Replays fills through the position rules: (final book, total realized gross, every outcome)."""
    book, realized, outcomes = Book(), D(0), []
    for side, quantity, price in fills:
        outcome = apply_fill(book, side, D(quantity), D(price), D(fee_rate))
        realized += sum((p.realized_pnl_gross or D(0) for p in outcome.parts if p.closes), D(0))
        outcomes.append(outcome)
        book = outcome.book
    return book, realized, outcomes


def run_lots(fills: list[tuple[Side, str, str]], method: Method, fee_rate: str = "0") -> tuple[list[Lot], list]:
    lots: list[Lot] = []
    book, rows = Book(), []
    for n, (side, quantity, price) in enumerate(fills):
        outcome = apply_fill(book, side, D(quantity), D(price), D(fee_rate))
        for part in outcome.parts:
            at = T0 + timedelta(days=n)
            if part.closes:
                lots, new_rows = close_lots(
                    lots, quantity=part.quantity, price=part.price, fee=part.fee, closed_at=at, method=method
                )
                rows += new_rows
            else:
                side_name = "long" if part.side is BUY else "short"
                lots = open_lot(lots, Lot(f"L{n}", side_name, part.quantity, part.price, part.fee, at), method)
        book = outcome.book
    return lots, rows


# --- the worked examples ------------------------------------------------------------------------

EXAMPLE_1 = [(BUY, "0.5", "60000"), (BUY, "0.3", "62000"), (SELL, "0.2", "65000"), (BUY, "0.1", "63000")]


def test_example_1_average_cost():
    after_buys, _, _ = run(EXAMPLE_1[:2])
    assert after_buys.avg_entry_price == D("60750")
    book, realized, _ = run(EXAMPLE_1)
    assert realized == D("850")
    assert (book.quantity, book.cost_basis) == (D("0.7"), D("42750"))
    assert book.avg_entry_price.quantize(D("0.01")) == D("61071.43")
    holding = Holding(1, "BTCUSDT", book.quantity, book.cost_basis, book.realized_pnl, T0, book.avg_entry_price)
    assert mark(holding, D("64000")).unrealized_pnl == D("2050")


def test_example_1_fifo():
    lots, rows = run_lots(EXAMPLE_1, Method.FIFO)
    assert sum(r.gain for r in rows) == D("1000")
    assert [(lot.quantity, lot.price) for lot in lots] == [
        (D("0.3"), D("60000")),
        (D("0.3"), D("62000")),
        (D("0.1"), D("63000")),
    ]


@pytest.mark.parametrize("method", [Method.LIFO, Method.HIFO])
def test_example_1_lifo_and_hifo(method):
    lots, rows = run_lots(EXAMPLE_1, method)
    assert sum(r.gain for r in rows) == D("600")
    assert [(lot.quantity, lot.price) for lot in lots] == [
        (D("0.5"), D("60000")),
        (D("0.1"), D("62000")),
        (D("0.1"), D("63000")),
    ]


def test_example_2_realizes_950_and_ends_flat():
    fills = [
        (BUY, "100", "8"),
        (BUY, "100", "9"),
        (SELL, "100", "10"),
        (BUY, "150", "11"),
        (SELL, "100", "12"),
        (SELL, "150", "14"),
    ]
    book, realized, outcomes = run(fills)
    assert [o.parts[0].realized_pnl_gross for o in outcomes if o.parts[0].closes] == [D(150), D(200), D(600)]
    assert realized == D("950")
    assert book == Book()
    assert outcomes[-1].closed is not None


def test_example_3_flat_is_exactly_zero():
    book, realized, outcomes = run([(BUY, "0.1", "30000"), (BUY, "0.2", "30000"), (SELL, "0.3", "30001")])
    assert realized == D("0.3")
    closed = outcomes[-1].closed
    assert closed is not None
    assert closed.quantity == 0
    assert closed.cost_basis == 0
    assert closed.realized_pnl == D("0.3")
    assert book.is_flat


# --- single rules -------------------------------------------------------------------------------


def test_a_fill_crossing_zero_splits_into_a_close_and_an_open_with_the_fee_pro_rata():
    long_one = apply_fill(Book(), BUY, D("1"), D("100"), D("0.001")).book  # fee 0.1
    outcome = apply_fill(long_one, SELL, D("1.5"), D("110"), D("0.001"))  # fee 0.165
    closing, opening = outcome.parts
    assert (closing.closes, closing.quantity, closing.fee, closing.realized_pnl_gross) == (True, D(1), D("0.11"), D(10))
    assert closing.realized_pnl_net == D("9.89")
    assert (opening.closes, opening.quantity, opening.fee, opening.realized_pnl_gross) == (
        False,
        D("0.5"),
        D("0.055"),
        None,
    )
    assert closing.fee + opening.fee == fee_for(D("1.5"), D("110"), D("0.001"))
    assert outcome.closed is not None
    assert outcome.closed.realized_pnl == D("9.79")  # 10 gross − 0.1 opening fee − 0.11 closing share
    assert outcome.book == Book(D("-0.5"), D("-55"), D("-0.055"), D("0.055"), avg_entry_price=D("110"))


def test_a_short_gains_when_bought_back_lower_and_the_average_does_not_move_on_reduce():
    short = apply_fill(Book(), SELL, D("2"), D("100"), D(0)).book
    outcome = apply_fill(short, BUY, D("1"), D("90"), D(0))
    assert outcome.parts[0].realized_pnl_gross == D("10")
    assert outcome.book.avg_entry_price == D("100")
    assert outcome.book.quantity == D("-1")


def test_cash_moves_by_notional_and_fee():
    buy = apply_fill(Book(), BUY, D("0.5"), D("60000"), D("0.001"))
    assert buy.cash_delta == D("-30030")  # 30,000 + 30 fee
    sell = apply_fill(buy.book, SELL, D("0.5"), D("61000"), D("0.001"))
    assert sell.cash_delta == D("30469.5")  # 30,500 − 30.5 fee


def test_fees_are_quote_amounts_rounded_half_even_to_8_places_and_splits_sum_exactly():
    assert fee_for(D("0.00012345"), D("91234.56"), D("0.001")) == D("0.01126291")
    first, second = split_fee(D("0.01"), D("1"), D("3"))
    assert (first, second, first + second) == (D("0.00333333"), D("0.00666667"), D("0.01"))


def test_a_partial_reduce_never_moves_the_average_even_on_a_tiny_remainder():
    book = apply_fill(Book(), BUY, D("0.00007"), D("66755.69"), D(0)).book
    book = apply_fill(book, BUY, D("0.00006"), D("66755.72"), D(0)).book
    exact = Fraction(D("0.00007") * D("66755.69") + D("0.00006") * D("66755.72")) / Fraction(D("0.00013"))
    assert abs(Fraction(book.avg_entry_price) - exact) < Fraction(1, 10**30)  # 66755.7038461538…
    for sold in ["0.00005", "0.00004", "0.00003"]:
        book = apply_fill(book, SELL, D(sold), D("67000"), D(0)).book
        assert abs(Fraction(book.avg_entry_price) - exact) < Fraction(1, 10**30)
        assert abs(book.cost_basis - book.quantity * book.avg_entry_price) <= D("0.000000005")
    assert book.quantity == D("0.00001")


def test_repeating_averages_release_rounded_cost_and_leave_the_exact_rest():
    book = apply_fill(Book(), BUY, D("3"), D("100"), D(0)).book
    first = apply_fill(book, SELL, D("1"), D("100"), D(0))
    assert first.book.cost_basis == D("200")
    book = apply_fill(first.book, BUY, D("1"), D("101"), D(0)).book  # cost 301 over 3: 100.333…
    partial = apply_fill(book, SELL, D("1"), D("101"), D(0))
    assert partial.parts[0].realized_pnl_gross == D("0.66666667")
    final = apply_fill(partial.book, SELL, D("2"), D("101"), D(0))
    assert final.closed is not None
    assert final.closed.realized_pnl == D("0.66666667") + D("1.33333333")  # Σ proceeds − Σ costs: exactly 2
    assert final.closed.realized_pnl == D("2")


def test_average_method_gains_equal_the_position_view_minus_fees():
    fills = [(BUY, "1", "100"), (BUY, "2", "103"), (SELL, "1.5", "110"), (SELL, "1.5", "95")]
    _, rows = run_lots(fills, Method.AVERAGE, "0.001")
    _, _, outcomes = run(fills, "0.001")
    assert len(rows) == 2  # one pooled lot, one row per closing fill
    for outcome, row in zip(outcomes[2:], rows, strict=True):
        part = outcome.parts[0]
        assert row.gain == part.realized_pnl_gross - part.fee - row.opening_fee
    assert (rows[0].gain, rows[0].opening_fee) == (D("11.682"), D("0.153"))  # 12 − 0.165 − 0.153


def test_holding_more_than_365_days_is_long_term():
    lots = [Lot("a", "long", D(1), D(100), D(0), T0)]
    _, (row,) = close_lots(
        lots, quantity=D(1), price=D(150), fee=D(0), closed_at=T0 + timedelta(days=366), method=Method.FIFO
    )
    assert (row.term, row.gain, row.lot_ids) == ("long", D(50), ("a",))
    _, (row,) = close_lots(
        lots, quantity=D(1), price=D(150), fee=D(0), closed_at=T0 + timedelta(days=365), method=Method.FIFO
    )
    assert row.term == "short"


# --- order rules --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        0.5,
        1,
        None,
        "",
        " 1",
        "1 ",
        "-1",
        "+1",
        "1e-3",
        "1E3",
        "NaN",
        "Infinity",
        "inf",
        "1,5",
        "0x10",
        ".5",
        "1.",
        "01",
        "1" * 21,
        "0." + "1" * 19,
        "١",
    ],
)
def test_quantities_must_be_plain_decimal_strings(raw):
    with pytest.raises(RuleViolation) as caught:
        parse_quantity(raw)
    assert caught.value.code == "quantity_invalid"


@pytest.mark.parametrize("raw", ["0", "0.0", "0.00000000"])
def test_zero_is_not_a_quantity(raw):
    with pytest.raises(RuleViolation) as caught:
        parse_quantity(raw)
    assert caught.value.code == "quantity_not_positive"


def test_lot_and_notional_rules():
    assert parse_quantity("0.00100") == D("0.001")
    check_lot(D("0.003"), step_size=D("0.001"), min_qty=D("0.001"))
    with pytest.raises(RuleViolation, match=r"multiple of 0\.001"):
        check_lot(D("0.0015"), step_size=D("0.001"), min_qty=D("0.001"))
    with pytest.raises(RuleViolation) as below:
        check_lot(D("0.0001"), step_size=D("0.0001"), min_qty=D("0.001"))
    assert below.value.code == "quantity_below_minimum"
    check_notional(D("0.0001"), D("60000"), min_notional=D("5"))
    with pytest.raises(RuleViolation) as small:
        check_notional(D("0.00001"), D("60000"), min_notional=D("5"))
    assert small.value.code == "notional_below_minimum"


def test_buying_power_limits_exposure_to_equity_but_never_blocks_a_reduce():
    common: dict[str, Any] = {
        "prices": {"BTCUSDT": D("50000"), "ETHUSDT": D("2500")},
        "fee_rate": D("0.001"),
        "max_leverage": D(1),
    }
    check_buying_power(cash=D("100000"), positions={}, symbol="BTCUSDT", side=BUY, quantity=D("1.99"), **common)
    with pytest.raises(RuleViolation) as caught:
        check_buying_power(cash=D("100000"), positions={}, symbol="BTCUSDT", side=BUY, quantity=D("2.01"), **common)
    assert caught.value.code == "insufficient_buying_power"
    with pytest.raises(RuleViolation):  # a short is exposure too
        check_buying_power(cash=D("100000"), positions={}, symbol="BTCUSDT", side=SELL, quantity=D("2.01"), **common)
    broke: dict[str, Any] = {"cash": D("-90000"), "positions": {"BTCUSDT": D("2")}}
    check_buying_power(**broke, symbol="BTCUSDT", side=SELL, quantity=D("1"), **common)  # reduce: always
    with pytest.raises(RuleViolation):  # crossing zero adds exposure on the other side
        check_buying_power(**broke, symbol="BTCUSDT", side=SELL, quantity=D("5"), **common)


# --- invariants over random fill sequences --------------------------------------------------------

fill_sequences = st.lists(
    st.tuples(
        st.sampled_from([BUY, SELL]),
        st.decimals(min_value=D("0.0001"), max_value=D("50"), places=4),
        st.decimals(min_value=D("0.01"), max_value=D("100000"), places=2),
    ),
    min_size=1,
    max_size=40,
)
fee_rates = st.sampled_from([D(0), D("0.001"), D("0.00075"), D("0.0002")])


@settings(max_examples=300, deadline=None)
@given(fills=fill_sequences, fee_rate=fee_rates)
def test_every_position_closes_at_exactly_its_cash_result(fills, fee_rate):
    book = Book()
    gross = fees = flow = D(0)  # of the position currently open
    for side, quantity, price in fills:
        outcome = apply_fill(book, side, quantity, price, fee_rate)
        assert sum((p.fee for p in outcome.parts), D(0)) == fee_for(quantity, price, fee_rate)
        assert outcome.cash_delta == -side.sign() * quantity * price - fee_for(quantity, price, fee_rate)
        for part in outcome.parts:
            gross += part.realized_pnl_gross or 0
            fees += part.fee
            flow += -part.side.sign() * part.quantity * part.price
            if part.closes and (outcome.closed is not None and part is outcome.parts[0]):
                closed = outcome.closed
                assert (closed.quantity, closed.cost_basis) == (D(0), D(0))
                assert gross == flow  # realized gross = Σ proceeds − Σ costs, to the last digit
                assert closed.realized_pnl == gross - fees
                assert closed.fees_paid == fees
                gross = fees = flow = D(0)
        book = outcome.book
        assert book.realized_pnl == gross - fees
        assert (book.quantity == 0) == (book.cost_basis == 0)


@settings(max_examples=300, deadline=None)
@given(fills=fill_sequences)
def test_the_average_is_the_exact_average_cost_and_only_adds_move_it(fills):
    """Against an exact reference in fractions: the stored average is within 1e-28 of the true
    (often repeating) average, a reduce leaves it untouched, and the stored cost never strays more
    than half of 1e-8 from quantity × average."""
    book, quantity, average = Book(), Fraction(0), Fraction(0)
    for side, size, price in fills:
        signed = Fraction(size) * side.sign()
        if quantity == 0 or (quantity > 0) == (signed > 0):
            average = (abs(quantity) * average + Fraction(size) * Fraction(price)) / (abs(quantity) + Fraction(size))
        elif abs(signed) > abs(quantity):
            average = Fraction(price)  # crossed zero: a new position at the fill price
        before = book.avg_entry_price
        outcome = apply_fill(book, side, size, price, D(0))
        quantity += signed
        book = outcome.book
        if book.is_flat:
            average = Fraction(0)
            continue
        assert abs(Fraction(book.avg_entry_price) - average) < Fraction(1, 10**28)
        if outcome.parts[0].closes and len(outcome.parts) == 1:
            assert book.avg_entry_price == before
        assert abs(book.cost_basis - book.quantity * book.avg_entry_price) <= D("0.000000005")


@settings(max_examples=150, deadline=None)
@given(fills=fill_sequences, fee_rate=fee_rates)
def test_once_flat_every_lot_method_reports_the_same_total_gain(fills, fee_rate):
    book, _, _ = run([(s, str(q), str(p)) for s, q, p in fills], str(fee_rate))
    if not book.is_flat:
        closing = apply_fill(book, SELL if book.quantity > 0 else BUY, abs(book.quantity), D("123.45"), fee_rate)
        fills = [*fills, (closing.parts[0].side, abs(book.quantity), D("123.45"))]
    as_text = [(s, str(q), str(p)) for s, q, p in fills]
    _, _, all_outcomes = run(as_text, str(fee_rate))
    position_total = sum((o.closed.realized_pnl for o in all_outcomes if o.closed is not None), D(0))
    for method in Method:
        lots, rows = run_lots(as_text, method, str(fee_rate))
        assert lots == []
        assert sum((r.gain for r in rows), D(0)) == position_total, method


@given(st.decimals(allow_nan=False, allow_infinity=False, min_value=-(10**12), max_value=10**12, places=None))
def test_decimal_str_is_plain_notation_without_trailing_zeros(value):
    Decimal = D
    from tradingsite.lib.numbers import decimal_str, price_str

    text = decimal_str(value)
    assert Decimal(text) == value  # every digit kept, even past 28 significant ones
    assert "E" not in text
    assert "e" not in text
    assert text == "0" or not ("." in text and text.endswith("0"))
    assert not text.endswith(".")
    if value > 0:
        assert price_str(value) == text

from datetime import UTC, datetime
from decimal import Decimal as D

from hypothesis import given
from hypothesis import strategies as st

from portfolio import domain
from portfolio.domain import Holding
from tradingsite.lib.numbers import average_str, decimal_str

OPENED = datetime(2026, 1, 1, tzinfo=UTC)


def holding(quantity: str, cost_basis: str, symbol: str = "BTCUSDT") -> Holding:
    return Holding(1, symbol, D(quantity), D(cost_basis), D(0), OPENED, D(cost_basis) / D(quantity))


def test_long_position_marks_follow_alpacas_definitions():
    marked = domain.mark(holding("0.7", "42750"), D("64000"))
    assert marked.market_value == D("44800.0")
    assert marked.unrealized_pnl == D("2050.0")  # ACCOUNTING.md worked example 1
    assert marked.unrealized_pnl_percent == D("4.7953")  # 2050 / 42750 × 100, half-even to 4 places


def test_short_position_gains_when_the_price_falls():
    short = holding("-2", "-200")  # short 2 @ 100
    marked = domain.mark(short, D("90"))
    assert (marked.market_value, marked.unrealized_pnl, marked.unrealized_pnl_percent) == (D("-180"), D("20"), D("10"))
    assert short.side == "short"
    assert short.avg_entry_price == D("100")


def test_totals_sum_signed_values_and_absolute_investment():
    pairs = [
        (h, domain.mark(h, p)) for h, p in [(holding("1", "100"), D("110")), (holding("-2", "-200", "ETH"), D("90"))]
    ]
    totals = domain.totals(pairs)
    assert totals.total_invested == D("300")
    assert totals.total_market_value == D("-70")
    assert totals.total_unrealized_pnl == D("30")
    assert totals.total_pnl_percent == D("10")


position_strategy = st.tuples(
    st.decimals(min_value=D("-100000"), max_value=D("100000"), places=8).filter(bool),
    st.decimals(min_value=D("0.00000001"), max_value=D("10000000"), places=8),
    st.decimals(min_value=D("0.00000001"), max_value=D("10000000"), places=8),
)


@given(positions=st.lists(position_strategy, max_size=60))
def test_totals_without_marking_each_position_are_the_same(positions):
    holdings = [(holding(str(q), str(q * entry)), price) for q, entry, price in positions]
    marked = domain.totals([(h, domain.mark(h, price)) for h, price in holdings])
    assert domain.totals_at((h.quantity, h.cost_basis, price) for h, price in holdings) == marked


def test_nothing_invested_means_zero_percent():
    assert domain.totals([]).total_pnl_percent == D(0)


@given(
    quantity=st.decimals(min_value=D("0.00000001"), max_value=D("100000"), places=8),
    entry=st.decimals(min_value=D("0.00000001"), max_value=D("10000000"), places=8),
    mark=st.decimals(min_value=D("0.00000001"), max_value=D("10000000"), places=8),
    short=st.booleans(),
)
def test_pnl_is_exact_market_value_minus_cost(quantity, entry, mark, short):
    signed = -quantity if short else quantity
    h = Holding(1, "X", signed, signed * entry, D(0), OPENED, entry)
    marked = domain.mark(h, mark)
    assert marked.market_value == signed * mark
    assert marked.unrealized_pnl == signed * (mark - entry)  # exact: no rounding in products


def test_decimal_strings_have_no_exponent_and_no_trailing_zeros():
    assert decimal_str(D("1E+2")) == "100"
    assert decimal_str(D("0.00000100")) == "0.000001"
    assert decimal_str(D("-0.0")) == "0"
    assert decimal_str(D("44800.0")) == "44800"
    assert decimal_str(D("67234.50000000")) == "67234.5"  # as Binance sends it


def test_an_average_reads_with_fifteen_significant_digits_whatever_its_size():
    assert average_str(D("42750") / D("0.7")) == "61071.4285714286"
    tiny = D("0.0000000021717171717171717171717")
    assert average_str(tiny) == "0.00000000217171717171717"
    assert abs(D(average_str(tiny)) - tiny) / tiny < D("1e-14")
    assert average_str(D("60750")) == "60750"

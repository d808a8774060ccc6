"""The Binance wire format: every sample payload of Binance's documentation (copied verbatim from
../shared/data/binance/doc-samples.json into tests/data), and what is refused."""

import json
from decimal import Decimal
from pathlib import Path

import pytest

from pricefeed import binance
from pricefeed.domain import Tick

SAMPLES = json.loads((Path(__file__).parent / "data" / "binance-doc-samples.json").read_text())
RECEIVED = 1_672_515_782_200


def combined(stream: str) -> str:
    entry = next(s for s in SAMPLES if s["stream"].startswith(stream))
    payload = entry["payload"]
    if "stream" in payload and "data" in payload:  # given in combined form already (serverShutdown)
        return json.dumps(payload)
    kind = entry["stream"].split("@", 1)[1]
    return json.dumps({"stream": f"{payload['s'].lower()}@{kind}", "data": payload})


def test_there_are_six_samples_and_each_one_parses():
    assert len(SAMPLES) == 6
    for entry in SAMPLES:
        frame = binance.parse_frame(combined(entry["stream"]), RECEIVED)
        assert isinstance(frame, binance.Prices | binance.ServerShutdown), entry["stream"]


@pytest.mark.parametrize(
    ("stream", "price", "event_ts"),
    [
        ("<symbol>@trade", "0.001", 1672515782136),
        ("<symbol>@aggTrade", "0.001", 1672515782136),
        ("<symbol>@miniTicker", "0.0025", 1672515782136),
        ("<symbol>@ticker", "0.0025", 1672515782136),
    ],
)
def test_trade_and_ticker_payloads_give_their_price_and_exchange_time(stream, price, event_ts):
    frame = binance.parse_frame(combined(stream), RECEIVED)
    assert frame == binance.Prices((Tick("BNBBTC", Decimal(price), event_ts, RECEIVED),))
    assert str(frame.ticks[0].price) == price  # exactly the string Binance sent, never via float


def test_book_ticker_gives_the_mid_price_and_the_receive_time():
    frame = binance.parse_frame(combined("<symbol>@bookTicker"), RECEIVED)
    # (25.35190000 + 25.36520000) / 2, exactly
    assert frame == binance.Prices((Tick("BNBUSDT", Decimal("25.35855000"), RECEIVED, RECEIVED),))


def test_server_shutdown_is_recognised():
    assert binance.parse_frame(combined("!serverShutdown"), RECEIVED) == binance.ServerShutdown(1770123456789)


def test_mini_ticker_array_carries_only_the_changed_symbols():
    raw = json.dumps(
        {
            "stream": "!miniTicker@arr",
            "data": [
                {"e": "24hrMiniTicker", "E": 5, "s": "BTCUSDT", "c": "91000.10"},
                {"e": "24hrMiniTicker", "E": 5, "s": "ETHUSDT", "c": "3100.5"},
            ],
        }
    )
    frame = binance.parse_frame(raw, RECEIVED)
    assert isinstance(frame, binance.Prices)
    assert [(t.symbol, t.price) for t in frame.ticks] == [
        ("BTCUSDT", Decimal("91000.10")),
        ("ETHUSDT", Decimal("3100.5")),
    ]


def test_replies_to_live_requests():
    assert binance.parse_frame('{"result":null,"id":7}', RECEIVED) == binance.Ack(7)
    error = binance.parse_frame('{"error":{"code":2,"msg":"Invalid request: invalid stream"},"id":1}', RECEIVED)
    assert error == binance.RequestError(1, 2, "Invalid request: invalid stream")


def test_unknown_events_are_reported_as_such():
    raw = '{"stream":"btcusdt@depth","data":{"e":"depthUpdate","E":1,"s":"BTCUSDT"}}'
    assert binance.parse_frame(raw, RECEIVED) == binance.UnknownEvent("btcusdt@depth", "depthUpdate")


@pytest.mark.parametrize(
    "raw",
    [
        "{not json",
        "[1,2]",
        '"text"',
        '{"stream":"btcusdt@aggTrade"}',
        '{"stream":"btcusdt@aggTrade","data":7}',
        '{"stream":"x","data":{"e":"aggTrade","E":1,"s":"BTCUSDT","p":61000.5}}',  # a float, not a string
        '{"stream":"x","data":{"e":"aggTrade","E":1,"s":"BTCUSDT","p":"NaN"}}',
        '{"stream":"x","data":{"e":"aggTrade","E":1,"s":"BTCUSDT","p":"-1"}}',
        '{"stream":"x","data":{"e":"aggTrade","E":1,"s":"BTCUSDT","p":"0"}}',
        '{"stream":"x","data":{"e":"aggTrade","E":1,"s":"BTCUSDT","p":"1e5x"}}',
        '{"stream":"x","data":{"e":"aggTrade","E":"1","s":"BTCUSDT","p":"1"}}',
        '{"stream":"x","data":{"e":"aggTrade","E":1,"s":"BTC/USDT","p":"1"}}',
        '{"stream":"x","data":{"e":"aggTrade","E":1,"p":"1"}}',
        '{"stream":"x","data":{"s":"BTCUSDT","b":"1","a":"Infinity"}}',
        '{"result":null,"id":"seven"}',
    ],
)
def test_malformed_frames_are_refused(raw):
    with pytest.raises(binance.FrameError):
        binance.parse_frame(raw, RECEIVED)


def test_stream_names_and_requests():
    assert binance.stream_name("BTCUSDT", "aggTrade") == "btcusdt@aggTrade"
    assert binance.symbol_of_stream("btcusdt@bookTicker") == "BTCUSDT"
    assert binance.combined_url("wss://h:9443/", ["a@x", "b@x"]) == "wss://h:9443/stream?streams=a@x/b@x"
    assert json.loads(binance.request("SUBSCRIBE", ["a@x"], 3)) == {"method": "SUBSCRIBE", "params": ["a@x"], "id": 3}
    with pytest.raises(ValueError, match="unknown stream kind"):
        binance.stream_name("BTCUSDT", "depth")


def test_exchange_info_filters():
    from tradingsite.testing.fake_binance import exchange_symbol

    body = {"symbols": [exchange_symbol("BTCUSDT"), exchange_symbol("OLDUSDT", "BREAK"), {"symbol": "BAD"}]}
    rows = binance.exchange_symbols(body)
    assert [(r.symbol, r.status, r.tick_size, r.step_size, r.min_notional) for r in rows] == [
        ("BTCUSDT", "TRADING", Decimal("0.01"), Decimal("0.00001"), Decimal("5")),
        ("OLDUSDT", "BREAK", Decimal("0.01"), Decimal("0.00001"), Decimal("5")),
    ]

// Markets: the tradable symbols with their prices (GET /prices for the ones shown, every few seconds)
// and the user's watch list (kept by the server, GET/PUT/DELETE /watchlist) streamed live over the
// socket's `watch`.
(function () {
  "use strict";
  const { api, fmt, symbols, el, when, live } = window.site;
  const $ = (id) => document.getElementById(id);
  const SHOWN = 100; // rows of the full list at once (one GET /prices)
  let info = new Map();
  let watchlist = [];
  const prices = new Map(); // symbol -> {price, price_ts}
  let socket = null;

  function priceText(symbol) {
    const q = prices.get(symbol);
    return q ? fmt(q.price, (info.get(symbol) || { pricePlaces: 8 }).pricePlaces) : "—";
  }
  function starButton(symbol) {
    const on = watchlist.includes(symbol);
    const button = el("button", {
      type: "button", class: "secondary small star", "aria-pressed": on ? "true" : "false",
      text: on ? "★ Watching" : "☆ Watch", "aria-label": (on ? "Stop watching " : "Watch ") + symbol,
    });
    button.addEventListener("click", () => toggle(symbol));
    return button;
  }
  function tradeLink(symbol) { return el("a", { href: "/?symbol=" + encodeURIComponent(symbol), text: "Trade", class: "small" }); }

  function renderWatchlist() {
    const tbody = document.querySelector("#watchlist tbody");
    tbody.replaceChildren();
    watchlist.forEach((symbol) => {
      const q = prices.get(symbol);
      tbody.append(el("tr", { "data-symbol": symbol }, [
        el("th", { scope: "row", text: symbol }),
        el("td", { class: "num price", text: priceText(symbol) }),
        el("td", { class: "opt updated", text: q && q.price_ts ? when(new Date(q.price_ts).toISOString()) : "—" }),
        el("td", { class: "actions" }, [tradeLink(symbol), " ", starButton(symbol)]),
      ]));
    });
    if (!watchlist.length) tbody.append(el("tr", { class: "empty" }, [el("td", { colspan: "4", text: "Nothing watched yet: add symbols from the list below." })]));
  }
  function shownSymbols() {
    const term = $("market-search").value.trim().toUpperCase();
    const all = [...info.values()].filter((s) => s.status === "TRADING" && (!term || s.symbol.includes(term)));
    $("markets-count").textContent = all.length > SHOWN ? "Showing " + SHOWN + " of " + all.length + ": search to narrow." : all.length + (all.length === 1 ? " symbol." : " symbols.");
    return all.slice(0, SHOWN);
  }
  function renderMarkets() {
    const tbody = document.querySelector("#markets tbody");
    tbody.replaceChildren();
    shownSymbols().forEach((s) => tbody.append(el("tr", { "data-symbol": s.symbol }, [
      el("th", { scope: "row", text: s.symbol }),
      el("td", { class: "opt", text: s.base_asset + " / " + s.quote_asset }),
      el("td", { class: "num price", text: priceText(s.symbol) }),
      el("td", { class: "actions" }, [tradeLink(s.symbol), " ", starButton(s.symbol)]),
    ])));
    if (!tbody.children.length) tbody.append(el("tr", { class: "empty" }, [el("td", { colspan: "4", text: "No symbol matches." })]));
  }
  function updatePrice(symbol) {
    document.querySelectorAll('tr[data-symbol="' + symbol + '"] .price').forEach((cell) => { cell.textContent = priceText(symbol); });
  }
  async function refreshPrices() {
    const names = shownSymbols().map((s) => s.symbol).filter((s) => !watchlist.includes(s));
    if (names.length) {
      try {
        const data = await api("GET", "prices?symbols=" + names.join(","));
        data.prices.forEach((q) => { prices.set(q.symbol, q); updatePrice(q.symbol); });
      } catch (e) { /* the next round tries again */ }
    }
  }
  async function toggle(symbol) {
    const on = watchlist.includes(symbol);
    try {
      const data = await api(on ? "DELETE" : "PUT", "watchlist/" + encodeURIComponent(symbol));
      watchlist = data.symbols;
      $("watch-message").textContent = "";
      if (socket) socket.send({ type: "watch", symbols: watchlist });
      renderWatchlist();
      renderMarkets();
    } catch (e) {
      $("watch-message").textContent = e.message;
    }
  }
  function onMessage(msg) {
    if (msg.type === "snapshot") {
      socket.send({ type: "watch", symbols: watchlist });
      if (msg.feed) status("open", "prices " + msg.feed.state);
    } else if (msg.type === "prices") {
      msg.prices.forEach((q) => { prices.set(q.symbol, q); updatePrice(q.symbol); });
      renderWatchlistTimes(msg.prices);
    } else if (msg.type === "feed") {
      status(msg.state === "stale" ? "stale" : "open", "prices " + msg.state);
    }
  }
  function renderWatchlistTimes(quotes) {
    quotes.forEach((q) => {
      const cell = document.querySelector('#watchlist tr[data-symbol="' + q.symbol + '"] .updated');
      if (cell) cell.textContent = when(new Date(q.price_ts).toISOString());
    });
  }
  function status(state, text) {
    $("conn").dataset.state = state;
    $("conn").textContent = text;
  }

  $("market-search").addEventListener("input", () => { renderMarkets(); refreshPrices(); });
  Promise.all([symbols(), api("GET", "watchlist")]).then(([map, data]) => {
    info = map;
    watchlist = data.symbols;
    renderWatchlist();
    renderMarkets();
    refreshPrices();
    setInterval(refreshPrices, 3000);
    socket = live(onMessage, status);
  }).catch((e) => { $("watch-message").textContent = e.message; });
})();

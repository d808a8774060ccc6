// History: trades (filters, pages, CSV), orders (with the reason of a refusal), closed positions.
(function () {
  "use strict";
  const { api, fmt, signed, symbols, el, when, reason } = window.site;
  const $ = (id) => document.getElementById(id);
  let info = new Map();
  const places = (symbol) => info.get(symbol) || { pricePlaces: 8, qtyPlaces: 8 };

  function cell(text, cls) { return el("td", { class: cls || "", text }); }
  function pnlCell(value, cls) {
    const s = signed(value, 2);
    return el("td", { class: ["num", cls, s.cls].filter(Boolean).join(" "), text: s.text });
  }
  function empty(tbody, cols, text) {
    tbody.replaceChildren(el("tr", { class: "empty" }, [el("td", { colspan: String(cols), text })]));
  }

  // --- trades -----------------------------------------------------------------------------------
  let tradesNext = null;
  function tradeQuery() {
    const q = new URLSearchParams({ limit: "50" });
    const symbol = $("filter-symbol").value.trim().toUpperCase();
    if (symbol) q.set("symbol", symbol);
    if ($("filter-from").value) q.set("from", $("filter-from").value + "T00:00:00Z");
    if ($("filter-to").value) q.set("to", $("filter-to").value + "T23:59:59.999999Z");
    return q;
  }
  async function loadTrades(next) {
    const tbody = document.querySelector("#trades tbody");
    $("trades-message").textContent = "";
    try {
      const page = await api("GET", next ? "trades?" + new URL(next, location.href).searchParams : "trades?" + tradeQuery());
      if (!next) tbody.replaceChildren();
      page.results.forEach((t) => {
        const p = places(t.symbol);
        tbody.append(el("tr", {}, [
          cell(when(t.executed_at)), el("th", { scope: "row", text: t.symbol }),
          cell(t.side === "buy" ? "Buy" : "Sell", t.side === "buy" ? "side-long" : "side-short"),
          cell(fmt(t.quantity, p.qtyPlaces), "num"), cell(fmt(t.price, p.pricePlaces), "num"),
          cell(fmt(t.fee, 2), "num opt"), pnlCell(t.realized_pnl_net),
        ]));
      });
      if (!tbody.children.length) empty(tbody, 7, "No trades.");
      tradesNext = page.next;
      $("trades-more").hidden = !tradesNext;
    } catch (e) {
      $("trades-message").textContent = e.message;
    }
  }
  $("trade-filters").addEventListener("submit", (event) => { event.preventDefault(); loadTrades(null); });
  $("trades-more").addEventListener("click", () => loadTrades(tradesNext));
  $("trades-csv").addEventListener("click", async () => {
    const q = tradeQuery();
    q.delete("limit");
    try {
      const blob = await api("GET", "trades?" + q, undefined, "text/csv");
      const a = el("a", { href: URL.createObjectURL(blob), download: "trades.csv" });
      document.body.append(a);
      a.click();
      a.remove();
    } catch (e) {
      $("trades-message").textContent = e.message;
    }
  });

  // --- orders -----------------------------------------------------------------------------------
  let ordersNext = null;
  async function loadOrders(next) {
    const tbody = document.querySelector("#orders tbody");
    try {
      const page = await api("GET", next ? "orders?" + new URL(next, location.href).searchParams : "orders?limit=50");
      if (!next) tbody.replaceChildren();
      page.results.forEach((o) => {
        const p = places(o.symbol);
        tbody.append(el("tr", { class: "status-" + o.status }, [
          cell(when(o.created_at)), el("th", { scope: "row", text: o.symbol }),
          cell(o.side === "buy" ? "Buy" : "Sell", o.side === "buy" ? "side-long" : "side-short"),
          cell(fmt(o.quantity, p.qtyPlaces), "num"),
          el("td", {}, [el("span", { class: "badge", text: o.status })]),
          cell(o.status === "filled" ? fmt(o.price, p.pricePlaces) : "—", "num"),
          cell(reason(o) || "", "opt reason-cell"),
        ]));
      });
      if (!tbody.children.length) empty(tbody, 7, "No orders.");
      ordersNext = page.next;
      $("orders-more").hidden = !ordersNext;
    } catch (e) {
      empty(tbody, 7, e.message);
    }
  }
  $("orders-more").addEventListener("click", () => loadOrders(ordersNext));

  // --- closed positions -------------------------------------------------------------------------
  async function loadClosed() {
    const tbody = document.querySelector("#closed tbody");
    try {
      const closed = await api("GET", "positions?status=closed");
      tbody.replaceChildren();
      closed.forEach((c) => {
        const p = places(c.symbol);
        tbody.append(el("tr", {}, [
          el("th", { scope: "row", text: c.symbol }), cell(fmt(c.exit_price, p.pricePlaces), "num"),
          cell(fmt(c.fees_paid, 2), "num opt"), pnlCell(c.realized_pnl),
          cell(when(c.opened_at), "opt"), cell(when(c.closed_at)),
        ]));
      });
      if (!tbody.children.length) empty(tbody, 6, "No closed positions.");
    } catch (e) {
      empty(tbody, 6, e.message);
    }
  }

  symbols().then((map) => {
    info = map;
    [...map.keys()].forEach((s) => $("symbol-list").append(el("option", { value: s })));
  }).catch(() => {}).finally(() => { loadTrades(null); loadOrders(null); loadClosed(); });
})();

// The dashboard: the live portfolio from /ws/v1/portfolio (snapshot, then pnl frames), the account
// from GET /account, the order ticket, closing from a row, recent orders updated by `order` frames.
// Numbers arrive as decimal strings; sums are exact (BigInt, static/site/app.js), shown rounded.
(function () {
  "use strict";
  const { api, add, sub, mul, cmp, sum, fmt, signed, symbols, el, reason, live } = window.site;
  const $ = (id) => document.getElementById(id);
  const tbody = document.querySelector("#positions tbody");
  const conn = $("conn");

  const positions = new Map(); // symbol -> position (as GET /positions, market value kept current)
  const rows = new Map(); // symbol -> <tr>
  let account = null; // GET /account: cash, realized_pnl, max_leverage, fee_rate
  let totals = null; // the socket's totals (as GET /portfolio)
  let pnlFields = ["symbol", "current_price", "unrealized_pnl", "unrealized_pnl_percent"];
  let symbolInfo = new Map();
  let socket = null; // site.live: send() while open
  const watched = { symbol: null, price: null };

  // --- numbers ---------------------------------------------------------------------------------
  const MONEY = 2;
  const PERCENT = 2;
  const info = (symbol) => symbolInfo.get(symbol) || { pricePlaces: 8, qtyPlaces: 8 };
  // The exact value stays on the element (data-raw): what is shown is only rounded from it.
  function show(node, value, places) {
    const shown = fmt(value, places);
    if (node.textContent !== shown) node.textContent = shown;
    node.dataset.raw = value === null || value === undefined ? "" : value;
  }
  function showSigned(node, value, places, suffix) {
    node.dataset.raw = value === null || value === undefined ? "" : value;
    const s = signed(value, places, suffix);
    if (node.textContent !== s.text) node.textContent = s.text;
    node.classList.toggle("up", s.cls === "up");
    node.classList.toggle("down", s.cls === "down");
  }
  function flash(node, before, after) {
    if (before === undefined || before === null || after === null || before === after) return;
    node.classList.remove("flash-up", "flash-down");
    void node.offsetWidth; // restart the animation
    node.classList.add(cmp(after, before) >= 0 ? "flash-up" : "flash-down");
  }

  // --- account ----------------------------------------------------------------------------------
  // The REST API's account numbers, kept current between its reads from the live positions:
  // equity = cash + long + short market value; buying power = max(0, equity × leverage − gross).
  function derived() {
    const values = [...positions.values()].map((p) => p.market_value).filter((v) => v !== null && v !== undefined);
    const long = sum(values.filter((v) => cmp(v, "0") > 0));
    const short = sum(values.filter((v) => cmp(v, "0") < 0));
    const gross = sub(long, short);
    if (!account) return { long, short, gross };
    const equity = add(account.cash, add(long, short));
    let buyingPower = sub(mul(equity, account.max_leverage), gross);
    if (cmp(buyingPower, "0") < 0) buyingPower = "0";
    return { long, short, gross, equity, buyingPower };
  }
  function renderAccount() {
    const d = derived();
    show($("long-mv"), d.long, MONEY);
    show($("short-mv"), d.short, MONEY);
    show($("gross"), d.gross, MONEY);
    if (account) {
      show($("cash"), account.cash, MONEY);
      showSigned($("realized"), account.realized_pnl, MONEY);
      show($("equity"), d.equity, MONEY);
      show($("buying-power"), d.buyingPower, MONEY);
      chart(d.equity);
    }
    if (totals) {
      showSigned($("total-pnl"), totals.total_unrealized_pnl, MONEY);
      showSigned($("total-pnl-pct"), totals.total_pnl_percent, PERCENT, "%");
    }
    estimate();
  }
  async function loadAccount() {
    try {
      account = await api("GET", "account");
      renderAccount();
    } catch (e) { /* shown as — until the next snapshot */ }
  }

  // --- positions --------------------------------------------------------------------------------
  function rowFor(symbol) {
    let tr = rows.get(symbol);
    if (tr) return tr;
    tr = el("tr", { "data-symbol": symbol }, [
      el("th", { scope: "row", class: "sym", text: symbol }),
      el("td", { class: "side opt" }),
      el("td", { class: "num qty" }),
      el("td", { class: "num opt avg" }),
      el("td", { class: "num price" }),
      el("td", { class: "num opt mv" }),
      el("td", { class: "num pnl" }),
      el("td", { class: "num pct" }),
      el("td", { class: "actions" }, [
        el("button", { type: "button", class: "secondary small close", text: "Close", "aria-label": "Close " + symbol }),
      ]),
    ]);
    tr.querySelector(".close").addEventListener("click", () => openClose(symbol));
    rows.set(symbol, tr);
    return tr;
  }
  function renderRow(p) {
    const tr = rowFor(p.symbol);
    const places = info(p.symbol);
    const side = tr.querySelector(".side");
    side.textContent = p.side === "long" ? "Long" : "Short";
    side.className = "side opt side-" + p.side;
    show(tr.querySelector(".qty"), p.quantity, places.qtyPlaces);
    show(tr.querySelector(".avg"), p.avg_entry_price, places.pricePlaces);
    show(tr.querySelector(".price"), p.current_price, places.pricePlaces);
    show(tr.querySelector(".mv"), p.market_value, MONEY);
    showSigned(tr.querySelector(".pnl"), p.unrealized_pnl, MONEY);
    showSigned(tr.querySelector(".pct"), p.unrealized_pnl_percent, PERCENT, "%");
    return tr;
  }
  function renderAll() {
    tbody.replaceChildren();
    rows.clear();
    if (positions.size === 0) {
      tbody.append(el("tr", { class: "empty" }, [el("td", { colspan: "9", text: "No open positions. Place an order to open one." })]));
    }
    [...positions.values()].sort((a, b) => a.symbol.localeCompare(b.symbol)).forEach((p) => tbody.append(renderRow(p)));
    $("close-all").disabled = positions.size === 0;
  }
  function applyPnl(entry) {
    const moved = {};
    pnlFields.forEach((field, i) => { moved[field] = entry[i]; });
    const p = positions.get(moved.symbol);
    if (!p) return;
    const tr = rows.get(p.symbol);
    const before = p.current_price;
    Object.assign(p, moved);
    p.market_value = add(p.cost_basis, p.unrealized_pnl); // exact, as REST computes it
    renderRow(p);
    if (tr) flash(tr.querySelector(".price"), before, p.current_price);
  }

  // --- the socket -------------------------------------------------------------------------------
  function setStatus(state, text) {
    conn.dataset.state = state;
    conn.textContent = text;
  }
  function onMessage(msg) {
    if (msg.type === "snapshot") {
      if (msg.pnl_fields) pnlFields = msg.pnl_fields;
      positions.clear();
      msg.positions.forEach((p) => positions.set(p.symbol, { ...p }));
      totals = msg.totals;
      renderAll();
      if (msg.feed) setStatus("open", "prices " + msg.feed.state);
      loadAccount(); // cash and realized PnL change only with fills, and a fill sends a snapshot
      if (watched.symbol) socket.send({ type: "watch", symbols: [watched.symbol] });
    } else if (msg.type === "pnl") {
      msg.positions.forEach(applyPnl);
      totals = msg.totals;
      renderAccount();
    } else if (msg.type === "prices") {
      msg.prices.forEach((q) => { if (q.symbol === watched.symbol) watched.price = q.price; });
      estimate();
    } else if (msg.type === "order") {
      showOrder(msg.order || msg);
    } else if (msg.type === "feed") {
      setStatus(msg.state === "stale" ? "stale" : "open", "prices " + msg.state);
    }
  }
  // --- orders -----------------------------------------------------------------------------------
  const orderItems = new Map(); // id -> <li>
  function showOrder(order) {
    const list = $("orders");
    list.querySelector(".empty")?.remove();
    let li = orderItems.get(order.id);
    if (!li) {
      li = el("li", { "data-order": String(order.id) });
      orderItems.set(order.id, li);
      list.prepend(li);
      while (list.children.length > 8) {
        const last = list.lastElementChild;
        orderItems.delete(Number(last.dataset.order));
        last.remove();
      }
    }
    const places = info(order.symbol);
    const why = reason(order);
    li.className = "order status-" + order.status;
    li.replaceChildren(
      el("span", { class: "order-side side-" + (order.side === "buy" ? "long" : "short"), text: order.side === "buy" ? "Buy" : "Sell" }),
      " ",
      el("span", { class: "num", text: fmt(order.quantity, places.qtyPlaces) }),
      " ",
      el("strong", { text: order.symbol }),
      " ",
      el("span", { class: "badge", text: order.status }),
      order.status === "filled" ? el("span", { class: "num muted", text: " at " + fmt(order.price, places.pricePlaces) }) : "",
      why ? el("span", { class: "reason", text: " " + why }) : "",
    );
  }
  async function loadOrders() {
    try {
      const page = await api("GET", "orders?limit=8");
      [...page.results].reverse().forEach(showOrder);
    } catch (e) { /* the list stays empty */ }
  }
  function clientOrderId() {
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    return "web-" + [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
  }

  // --- the ticket -------------------------------------------------------------------------------
  const form = $("ticket");
  const symbolInput = $("ticket-symbol");
  const quantityInput = $("ticket-quantity");
  function ticket() {
    const symbol = symbolInput.value.trim().toUpperCase();
    const side = form.querySelector("input[name=side]:checked").value;
    const quantity = quantityInput.value.trim();
    return { symbol, side, quantity, known: symbolInfo.has(symbol), valid: /^\d+(\.\d+)?$/.test(quantity) && cmp(quantity, "0") > 0 };
  }
  function watch(symbol) {
    if (watched.symbol === symbol) return;
    watched.symbol = symbol;
    watched.price = positions.get(symbol)?.current_price || null;
    if (socket) socket.send({ type: "watch", symbols: symbol ? [symbol] : [] });
  }
  function estimate() {
    const t = ticket();
    const places = info(t.symbol);
    $("ticket-step").textContent = t.known ? "(step " + symbolInfo.get(t.symbol).step_size + ")" : "";
    $("ticket-submit").textContent = t.known ? (t.side === "buy" ? "Buy " : "Sell ") + t.symbol : "Place order";
    $("ticket-submit").classList.toggle("sell", t.side === "sell");
    watch(t.known ? t.symbol : null);
    const price = t.known ? watched.price : null;
    show($("est-price"), price, places.pricePlaces);
    if (!price || !t.valid || !account) {
      ["est-value", "est-fee", "est-bp"].forEach((id) => { $(id).textContent = "—"; });
      return;
    }
    const value = mul(t.quantity, price);
    const fee = mul(value, account.fee_rate);
    show($("est-value"), value, MONEY);
    show($("est-fee"), fee, MONEY);
    const held = positions.get(t.symbol);
    const reduces = held && (held.side === "long") === (t.side === "sell");
    const bp = derived().buyingPower;
    if (reduces) $("est-bp").textContent = "more (it reduces your " + held.side + ")";
    else show($("est-bp"), sub(bp, add(value, fee)), MONEY);
  }
  form.addEventListener("input", estimate);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const t = ticket();
    const message = $("ticket-message");
    message.className = "message";
    if (!t.known) { message.textContent = "Choose a symbol from the list."; message.classList.add("error"); return; }
    if (!t.valid) { message.textContent = "Enter a quantity above zero, like 0.015."; message.classList.add("error"); return; }
    $("ticket-submit").disabled = true;
    try {
      const order = await api("POST", "orders", { symbol: t.symbol, side: t.side, quantity: t.quantity, client_order_id: clientOrderId() });
      showOrder(order);
      message.textContent = "Order accepted: " + t.side + " " + t.quantity + " " + t.symbol + " (pending).";
    } catch (e) {
      message.textContent = e.message; // the API's own words, with the field when one is wrong
      if (e.details && typeof e.details === "object") {
        const fields = Object.entries(e.details).filter(([, v]) => Array.isArray(v)).map(([k, v]) => k + ": " + v.join(" "));
        if (fields.length) message.textContent += " " + fields.join("; ");
      }
      message.classList.add("error");
    } finally {
      $("ticket-submit").disabled = false;
    }
  });

  // --- closing ----------------------------------------------------------------------------------
  const dialog = $("close-dialog");
  let closing = null;
  function openClose(symbol) {
    const p = positions.get(symbol);
    if (!p) return;
    closing = symbol;
    $("close-symbol").textContent = symbol;
    $("close-open").textContent = fmt(p.quantity, info(symbol).qtyPlaces) + " (" + p.side + ")";
    $("close-percentage").value = "100";
    $("close-quantity").value = "";
    $("close-message").textContent = "";
    dialog.showModal();
    $("close-percentage").focus();
  }
  $("close-quantity").addEventListener("input", () => { if ($("close-quantity").value) $("close-percentage").value = ""; });
  $("close-percentage").addEventListener("input", () => { if ($("close-percentage").value) $("close-quantity").value = ""; });
  $("close-cancel").addEventListener("click", () => dialog.close());
  $("close-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const quantity = $("close-quantity").value.trim();
    const percentage = $("close-percentage").value.trim();
    const query = quantity ? "quantity=" + encodeURIComponent(quantity) : "percentage=" + encodeURIComponent(percentage || "100");
    try {
      const order = await api("DELETE", "positions/" + encodeURIComponent(closing) + "?" + query);
      showOrder(order);
      dialog.close();
    } catch (e) {
      $("close-message").textContent = e.message;
      $("close-message").className = "message error";
    }
  });
  $("close-all").addEventListener("click", async () => {
    if (!confirm("Close all " + positions.size + " open positions at market?")) return;
    try {
      const result = await api("DELETE", "positions");
      (result.results || result).forEach((r) => { if (r.order) showOrder(r.order); });
    } catch (e) {
      $("ticket-message").textContent = e.message;
    }
  });

  // --- equity chart -----------------------------------------------------------------------------
  const points = [];
  let lastSample = 0;
  function chart(equity) {
    const now = Date.now();
    const value = Number(equity); // a picture only: the numbers shown are the exact ones
    if (now - lastSample < 1000 && points.length) points[points.length - 1] = value; // one point a second
    else {
      lastSample = now;
      points.push(value);
      if (points.length > 600) points.shift();
    }
    const lo = Math.min(...points);
    const hi = Math.max(...points);
    const span = hi - lo || 1;
    const step = 300 / Math.max(1, points.length - 1);
    document.querySelector("#equity-chart polyline").setAttribute(
      "points", points.map((v, i) => (i * step).toFixed(1) + "," + (78 - ((v - lo) / span) * 76).toFixed(1)).join(" "));
    $("equity-range").textContent = "low " + fmt(String(lo), MONEY) + " · high " + fmt(String(hi), MONEY);
  }

  // --- start ------------------------------------------------------------------------------------
  const asked = new URLSearchParams(location.search).get("symbol"); // "Trade" from the Markets page
  if (asked) symbolInput.value = asked.toUpperCase();
  symbols().then((map) => {
    symbolInfo = map;
    const list = $("symbol-list");
    [...map.values()].filter((s) => s.status === "TRADING").forEach((s) => list.append(el("option", { value: s.symbol, label: s.base_asset + " / " + s.quote_asset })));
    renderAll();
    renderAccount();
  }).catch(() => {});
  loadOrders();
  socket = live(onMessage, setStatus);
})();

// Live portfolio: renders the `snapshot` and applies `pnl` deltas from /ws/v1/portfolio.
// Numbers arrive as decimal strings and are shown as sent (grouped), never re-computed in floats.
(function () {
  "use strict";
  const tbody = document.querySelector("#positions tbody");
  const conn = document.getElementById("conn");
  const rows = new Map(); // symbol -> <tr>
  const costs = new Map(); // symbol -> cost basis (decimal string), from the snapshot
  let pnlFields = ["symbol", "current_price", "unrealized_pnl", "unrealized_pnl_percent"];
  let retry = 0;

  // Exact decimal-string addition (BigInt), for a position's market value = cost basis + unrealized
  // PnL: pnl frames carry only what the server computes per move (README, live socket).
  function addDecimal(a, b) {
    const places = Math.max((a.split(".")[1] || "").length, (b.split(".")[1] || "").length);
    const scaled = (t) => {
      const negative = t.startsWith("-");
      const [w, f = ""] = (negative ? t.slice(1) : t).split(".");
      const v = BigInt(w + f.padEnd(places, "0"));
      return negative ? -v : v;
    };
    const sum = scaled(a) + scaled(b);
    const negative = sum < 0n;
    const digits = (negative ? -sum : sum).toString().padStart(places + 1, "0");
    const whole = digits.slice(0, digits.length - places);
    const frac = digits.slice(digits.length - places).replace(/0+$/, "");
    return (negative ? "-" : "") + whole + (frac ? "." + frac : "");
  }
  function fromPnl(entry) {
    const p = {};
    pnlFields.forEach((field, i) => { p[field] = entry[i]; });
    const cost = costs.get(p.symbol);
    if (cost !== undefined && p.unrealized_pnl !== undefined) p.market_value = addDecimal(cost, p.unrealized_pnl);
    return p;
  }

  function group(text) {
    if (text === null || text === undefined) return "—";
    const negative = text.startsWith("-");
    const [whole, frac] = (negative ? text.slice(1) : text).split(".");
    const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
    return (negative ? "-" : "") + grouped + (frac ? "." + frac : "");
  }
  function money(text) {
    if (text === null || text === undefined) return "—";
    const [whole, frac = ""] = text.split(".");
    return group(whole + "." + (frac + "00").slice(0, 2));
  }
  function sign(el, text) {
    el.classList.toggle("up", text !== null && !text.startsWith("-") && text !== "0");
    el.classList.toggle("down", text !== null && text.startsWith("-"));
  }
  function setCell(el, text, shown) {
    if (el.dataset.raw === String(text)) return;
    const before = el.dataset.raw;
    el.dataset.raw = String(text);
    el.textContent = shown;
    if (before !== undefined && text !== null) {
      el.classList.remove("flash-up", "flash-down");
      void el.offsetWidth; // restart the animation
      el.classList.add(Number(text) >= Number(before) ? "flash-up" : "flash-down");
    }
  }
  function renderRow(p) {
    let tr = rows.get(p.symbol);
    if (!tr) {
      tr = document.createElement("tr");
      tr.dataset.symbol = p.symbol;
      tr.innerHTML = '<td class="sym"></td><td class="side"></td><td class="num qty"></td><td class="num avg"></td>' +
        '<td class="num price"></td><td class="num mv"></td><td class="num pnl"></td><td class="num pct"></td>';
      rows.set(p.symbol, tr);
      tbody.appendChild(tr);
    }
    if (p.side) {
      costs.set(p.symbol, p.cost_basis);
      tr.querySelector(".sym").textContent = p.symbol;
      const side = tr.querySelector(".side");
      side.textContent = p.side.toUpperCase();
      side.className = "side side-" + p.side;
      tr.querySelector(".qty").textContent = group(p.quantity);
      tr.querySelector(".avg").textContent = group(p.avg_entry_price);
    }
    setCell(tr.querySelector(".price"), p.current_price, group(p.current_price));
    setCell(tr.querySelector(".mv"), p.market_value, money(p.market_value));
    const pnl = tr.querySelector(".pnl");
    setCell(pnl, p.unrealized_pnl, money(p.unrealized_pnl));
    sign(pnl, p.unrealized_pnl);
    const pct = tr.querySelector(".pct");
    setCell(pct, p.unrealized_pnl_percent, p.unrealized_pnl_percent === null ? "—" : money(p.unrealized_pnl_percent) + "%");
    sign(pct, p.unrealized_pnl_percent);
  }
  function renderTotals(t) {
    const pnl = document.getElementById("total-pnl");
    setCell(pnl, t.total_unrealized_pnl, money(t.total_unrealized_pnl));
    sign(pnl, t.total_unrealized_pnl);
    const pct = document.getElementById("total-pnl-pct");
    setCell(pct, t.total_pnl_percent, money(t.total_pnl_percent) + "%");
    sign(pct, t.total_pnl_percent);
    setCell(document.getElementById("total-mv"), t.total_market_value, money(t.total_market_value));
    setCell(document.getElementById("total-invested"), t.total_invested, money(t.total_invested));
  }
  function snapshot(msg) {
    if (msg.pnl_fields) pnlFields = msg.pnl_fields;
    rows.clear();
    costs.clear();
    tbody.innerHTML = "";
    if (msg.positions.length === 0) {
      tbody.innerHTML = '<tr class="empty"><td colspan="8">No open positions.</td></tr>';
    }
    msg.positions.forEach(renderRow);
    renderTotals(msg.totals);
    if (msg.feed) setStatus("open", msg.feed.state);
  }
  function setStatus(state, text) {
    conn.dataset.state = state;
    conn.textContent = text;
  }
  function connect() {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    const ws = new WebSocket(scheme + location.host + "/ws/v1/portfolio");
    ws.onopen = () => { retry = 0; setStatus("open", "connected"); };
    ws.onmessage = (event) => {
      const msg = JSON.parse(event.data);
      if (msg.type === "snapshot") snapshot(msg);
      else if (msg.type === "pnl") { msg.positions.forEach((e) => renderRow(fromPnl(e))); renderTotals(msg.totals); }
      else if (msg.type === "feed") setStatus("open", msg.state);
    };
    ws.onclose = (event) => {
      if (event.code === 4401) { location.href = "/accounts/login/"; return; }
      setStatus("closed", "reconnecting…");
      retry = Math.min(retry + 1, 6);
      setTimeout(connect, Math.random() * 250 * 2 ** retry); // full jitter
    };
  }
  connect();
})();

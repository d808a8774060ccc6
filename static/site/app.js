// What every page shares: the REST API with the session cookie (and CSRF on writes), exact decimal
// arithmetic on the API's decimal strings (BigInt, never floats) and the number formats.
(function () {
  "use strict";

  function cookie(name) {
    const found = document.cookie.split("; ").find((c) => c.startsWith(name + "="));
    return found ? decodeURIComponent(found.slice(name.length + 1)) : "";
  }

  class ApiError extends Error {
    constructor(status, code, message, details) {
      super(message);
      this.status = status;
      this.code = code;
      this.details = details;
    }
  }

  // fetch on /api/v1/ as the logged-in user. JSON in and out; an error body becomes an ApiError with
  // the registry's code and message. A 401/403 means the session ended: the page says so.
  async function api(method, path, body, accept) {
    const headers = { Accept: accept || "application/json" };
    if (method !== "GET") {
      headers["X-CSRFToken"] = cookie("csrftoken");
      if (body !== undefined) headers["Content-Type"] = "application/json";
    }
    let response;
    try {
      response = await fetch("/api/v1/" + path, {
        method,
        headers,
        credentials: "same-origin",
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (e) {
      throw new ApiError(0, "network", "The server could not be reached. Check your connection and try again.");
    }
    if (accept === "text/csv" && response.ok) return response.blob();
    let data = null;
    try { data = await response.json(); } catch (e) { data = null; }
    const error = (data && data.error) || {}; // {"error": {"code", "message", "details"}}
    if (response.status === 401) signedOut("Your session has ended.");
    if (!response.ok) {
      const code = error.code || "http_" + response.status;
      const message = error.message || "The request failed (" + response.status + ").";
      throw new ApiError(response.status, code, message, error.details);
    }
    return data;
  }

  // --- exact decimals ------------------------------------------------------------------------------
  // A decimal string as [BigInt units, places]: "-12.340" -> [-12340n, 3].
  function parse(text) {
    const negative = text.startsWith("-");
    const [whole, frac = ""] = (negative || text.startsWith("+") ? text.slice(1) : text).split(".");
    const units = BigInt((whole || "0") + frac);
    return [negative ? -units : units, frac.length];
  }
  function scale(value, from, to) {
    return to >= from ? value * 10n ** BigInt(to - from) : value / 10n ** BigInt(from - to);
  }
  function text(units, places) {
    const negative = units < 0n;
    let digits = (negative ? -units : units).toString().padStart(places + 1, "0");
    const whole = digits.slice(0, digits.length - places);
    const frac = places ? digits.slice(digits.length - places).replace(/0+$/, "") : "";
    if (whole === "0" && !frac) return "0";
    return (negative ? "-" : "") + whole + (frac ? "." + frac : "");
  }
  function add(a, b) {
    const [x, px] = parse(a);
    const [y, py] = parse(b);
    const p = Math.max(px, py);
    return text(scale(x, px, p) + scale(y, py, p), p);
  }
  function sub(a, b) { return add(a, b.startsWith("-") ? b.slice(1) : "-" + b); }
  function mul(a, b) {
    const [x, px] = parse(a);
    const [y, py] = parse(b);
    return text(x * y, px + py);
  }
  function cmp(a, b) {
    const d = parse(sub(a, b))[0];
    return d < 0n ? -1 : d > 0n ? 1 : 0;
  }
  function sum(values) { return values.reduce((acc, v) => add(acc, v), "0"); }

  // Rounded half away from zero to `places` (not truncated), as exactly `places` decimals; never "-0".
  function round(value, places) {
    const [units, p] = parse(String(value));
    let scaled;
    if (p <= places) scaled = scale(units, p, places);
    else {
      const divisor = 10n ** BigInt(p - places);
      const magnitude = units < 0n ? -units : units;
      let q = magnitude / divisor;
      if ((magnitude % divisor) * 2n >= divisor) q += 1n;
      scaled = units < 0n ? -q : q;
    }
    const negative = scaled < 0n;
    const digits = (negative ? -scaled : scaled).toString().padStart(places + 1, "0");
    const whole = digits.slice(0, digits.length - places);
    const frac = places ? "." + digits.slice(digits.length - places) : "";
    return (negative ? "-" : "") + whole + frac;
  }
  function group(fixed) {
    const negative = fixed.startsWith("-");
    const [whole, frac] = (negative ? fixed.slice(1) : fixed).split(".");
    return (negative ? "−" : "") + whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",") + (frac !== undefined ? "." + frac : "");
  }
  // The number shown: rounded to `places`, grouped, "—" when unknown.
  function fmt(value, places) {
    if (value === null || value === undefined || value === "") return "—";
    return group(round(value, places));
  }
  // Gains and losses: an explicit sign (readable without colour) and a class for the colour.
  function signed(value, places, suffix) {
    if (value === null || value === undefined) return { text: "—", cls: "" };
    const fixed = round(value, places);
    const zero = /^-?0(\.0*)?$/.test(fixed);
    const negative = fixed.startsWith("-") && !zero;
    const shown = zero ? fixed.replace("-", "") : fixed;
    return {
      text: (negative ? "" : zero ? "" : "+") + group(shown) + (suffix || ""),
      cls: zero ? "" : negative ? "down" : "up",
    };
  }
  // Decimal places of a tick or step size: "0.01000000" -> 2, "1" -> 0.
  function placesOf(step) {
    const frac = (String(step).split(".")[1] || "").replace(/0+$/, "");
    return frac.length;
  }

  let symbolsPromise = null;
  function symbols() {
    if (!symbolsPromise) {
      symbolsPromise = api("GET", "symbols").then((data) => {
        const map = new Map();
        data.symbols.forEach((s) => map.set(s.symbol, {
          ...s, pricePlaces: placesOf(s.tick_size), qtyPlaces: placesOf(s.step_size),
        }));
        return map;
      });
    }
    return symbolsPromise;
  }

  function signedOut(reason) {
    const box = document.getElementById("session-ended");
    if (!box) return;
    box.hidden = false;
    if (reason) box.querySelector(".why").textContent = reason;
  }

  function when(iso) {
    if (!iso) return "—";
    const d = new Date(iso);
    return d.toISOString().replace("T", " ").slice(0, 19) + " UTC";
  }

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => {
      if (k === "text") node.textContent = v;
      else if (k === "class") node.className = v;
      else if (v !== undefined && v !== null && v !== false) node.setAttribute(k, v === true ? "" : v);
    });
    (children || []).forEach((c) => node.append(c));
    return node;
  }

  const REASONS = {
    insufficient_buying_power: "Not enough buying power for this order.",
    position_insufficient: "The position was already smaller than this close (another close filled first).",
    price_stale: "No recent price for this symbol (the feed is stale). Try again when it is live.",
    quantity_off_step: "The quantity is not a multiple of the symbol's step size.",
    quantity_below_minimum: "The quantity is below the symbol's minimum.",
    notional_below_minimum: "The order's value is below the symbol's minimum.",
    quantity_not_positive: "The quantity must be above zero.",
    quantity_invalid: "The quantity is not a number.",
    symbol_halted: "This symbol is not trading right now.",
    symbol_unknown: "There is no such symbol.",
    order_expired: "The order was not filled in time and expired.",
  };
  function reason(order) {
    const code = order.reject_reason || (order.status === "expired" ? "order_expired" : "");
    return REASONS[code] || (code ? code.replace(/_/g, " ") : "");
  }

  // The live socket (/ws/v1/portfolio) for a page: reconnects by itself with backoff and jitter (each
  // connect brings a fresh snapshot); a session that ends (4401, or refused and GET /auth/me answering
  // 401) says "signed out"; 4429 says that too many tabs are open. `status(state, text)` shows it.
  function live(onMessage, status) {
    let socket = null;
    let retry = 0;
    let stopped = false;
    function stop(state, why) {
      stopped = true;
      status("closed", state);
      if (why) signedOut(why);
    }
    function connect() {
      if (stopped) return;
      // the stream front when the site names one (STREAM_URL: a URL, or ":port" on this host), else this host
      const stream = document.querySelector('meta[name="stream-url"]');
      const scheme = location.protocol === "https:" ? "wss://" : "ws://";
      let base = scheme + location.host;
      if (stream) base = stream.content.startsWith(":") ? scheme + location.hostname + stream.content : stream.content;
      socket = new WebSocket(base + "/ws/v1/portfolio");
      let opened = false;
      socket.onopen = () => { opened = true; retry = 0; status("open", "connected"); };
      socket.onmessage = (event) => onMessage(JSON.parse(event.data));
      socket.onclose = async (event) => {
        if (event.code === 4401) {
          return stop("signed out", "Your session ended: you logged out elsewhere, changed your password, or an administrator signed you out.");
        }
        if (event.code === 4429) {
          stop("too many tabs");
          const box = document.getElementById("too-many");
          if (box) box.hidden = false;
          return;
        }
        status("closed", "reconnecting…");
        if (!opened) {
          // Refused before it opened: a 403 (session gone) looks the same as a server restart here.
          try { await api("GET", "auth/me"); } catch (e) {
            if (e.status === 401 || e.status === 403) return stop("signed out", "Your session has ended.");
          }
        }
        retry = Math.min(retry + 1, 6);
        setTimeout(connect, 250 + Math.random() * 250 * 2 ** retry);
      };
    }
    connect();
    return {
      send(message) {
        if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
      },
    };
  }

  window.site = { api, ApiError, add, sub, mul, cmp, sum, round, fmt, signed, placesOf, symbols, signedOut, when, el, reason, live };
})();

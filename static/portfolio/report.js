// The realized-gains report of a year by a cost-basis method (GET /reports/realized; a long history
// is built by a worker: the 202's job is polled until ready), and its rows as CSV.
(function () {
  "use strict";
  const { api, fmt, signed, symbols, el, when } = window.site;
  const $ = (id) => document.getElementById(id);
  let info = new Map();

  function query() { return "year=" + $("report-year").value + "&method=" + $("report-method").value; }
  function setSigned(id, value) {
    const s = signed(value, 2);
    $(id).textContent = s.text;
    $(id).className = "value num " + s.cls;
  }
  function render(report) {
    $("t-proceeds").textContent = fmt(report.totals.proceeds, 2);
    $("t-cost").textContent = fmt(report.totals.cost_basis, 2);
    setSigned("t-gain", report.totals.gain);
    setSigned("t-short", report.totals.short_term_gain);
    setSigned("t-long", report.totals.long_term_gain);
    const tbody = document.querySelector("#report-rows tbody");
    tbody.replaceChildren();
    report.rows.forEach((r) => {
      const p = info.get(r.symbol) || { qtyPlaces: 8 };
      const gain = signed(r.gain, 2);
      tbody.append(el("tr", {}, [
        el("th", { scope: "row", text: r.symbol }), el("td", { text: r.side, class: "side-" + r.side }),
        el("td", { class: "num", text: fmt(r.quantity, p.qtyPlaces) }), el("td", { class: "opt", text: when(r.opened_at) }),
        el("td", { text: when(r.closed_at) }), el("td", { class: "num opt", text: fmt(r.proceeds, 2) }),
        el("td", { class: "num opt", text: fmt(r.cost_basis, 2) }), el("td", { class: "num " + gain.cls, text: gain.text }),
        el("td", { text: r.term }),
      ]));
    });
    if (!report.rows.length) tbody.append(el("tr", { class: "empty" }, [el("td", { colspan: "9", text: "Nothing was closed in " + report.year + "." })]));
  }
  async function load() {
    const message = $("report-message");
    message.className = "message";
    message.textContent = "Loading…";
    try {
      let data = await api("GET", "reports/realized?" + query());
      while (data && data.status && data.status !== "ready" && data.id) { // a worker builds it
        message.textContent = "Building the report…";
        await new Promise((r) => setTimeout(r, 1000));
        data = await api("GET", "reports/" + data.id);
      }
      render(data.report || data);
      message.textContent = "";
    } catch (e) {
      message.textContent = e.message;
      message.classList.add("error");
    }
  }
  $("report-form").addEventListener("submit", (event) => { event.preventDefault(); load(); });
  $("report-csv").addEventListener("click", async () => {
    try {
      const blob = await api("GET", "reports/realized?" + query(), undefined, "text/csv");
      const a = el("a", { href: URL.createObjectURL(blob), download: "realized-" + $("report-year").value + "-" + $("report-method").value + ".csv" });
      document.body.append(a);
      a.click();
      a.remove();
    } catch (e) {
      $("report-message").textContent = e.message;
    }
  });
  api("GET", "account").then((a) => { $("report-method").value = a.cost_basis_method; }).catch(() => {})
    .finally(() => symbols().then((m) => { info = m; }).catch(() => {}).finally(load));
})();

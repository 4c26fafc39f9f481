// The viewer's only script: j/k through rows, and a live run refreshing without a reload.
"use strict";
(function () {
  const items = () => Array.from(document.querySelectorAll(".nav-item, section.answer"));
  let at = -1;
  function go(step) {
    const list = items();
    if (!list.length) return;
    if (at >= 0 && list[at]) list[at].classList.remove("current");
    at = Math.max(0, Math.min(list.length - 1, at + step));
    list[at].classList.add("current");
    list[at].scrollIntoView({ block: "nearest" });
  }
  document.addEventListener("keydown", (e) => {
    const tag = (e.target && e.target.tagName) || "";
    if (["INPUT", "TEXTAREA", "SELECT"].includes(tag) || e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.key === "j") go(1);
    else if (e.key === "k") go(-1);
    else if (e.key === "Enter" && at >= 0) {
      const row = items()[at];
      const link = row && (row.querySelector("a.open[href]") || row.querySelector("a[href]"));
      if (link) window.location.href = link.href;
    }
  });

  const live = document.body.dataset.live;
  if (!live) return;
  const text = (v) => (v === null || v === undefined ? "–" : String(v));
  function cell(row, value, cls) {
    const td = document.createElement("td");
    td.textContent = text(value);
    if (cls) td.className = cls;
    row.appendChild(td);
  }
  async function refresh() {
    let state;
    try {
      const resp = await fetch("/api/live/" + encodeURIComponent(live), { cache: "no-store" });
      if (!resp.ok) return;
      state = await resp.json();
    } catch (err) {
      return;
    }
    document.getElementById("live-status").textContent = state.status;
    const body = document.getElementById("live-groups");
    body.replaceChildren();
    for (const g of state.groups) {
      const row = document.createElement("tr");
      cell(row, g.name);
      cell(row, g.per_minute, "num");
      cell(row, g.limit_per_minute, "num");
      cell(row, g.ok, "num");
      cell(row, g.error, g.error > 0 ? "num err" : "num");
      cell(row, g.retries, "num");
      cell(row, g.done + (g.total ? " / " + g.total : ""), "num");
      cell(row, g.eta_s === null ? "–" : g.eta_s + " s", "num");
      body.appendChild(row);
    }
    document.body.dataset.refreshed = String(Number(document.body.dataset.refreshed || 0) + 1);
    if (state.status !== "running" && state.report) {
      window.location.href = "/run/" + encodeURIComponent(live);
      return;
    }
    setTimeout(refresh, 1000);
  }
  setTimeout(refresh, 500);
})();

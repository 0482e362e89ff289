// The board 督办墙: filters, charts, live updates over Server-Sent Events and, on a 展示屏,
// pages that turn by themselves.
"use strict";
(() => {
  const settings = JSON.parse(document.getElementById("wall-settings").textContent);
  const board = document.getElementById("wall-board");
  const query = new URLSearchParams(settings.query).toString();
  const pageLabel = document.getElementById("wall-page");
  const CHARTS_EVERY_MS = 60_000; // the month's rates move slowly: redraw at most once a minute
  const TICK_MS = 60_000; // time left moves even when nothing happens
  window.wallLive = 0; // updates the stream asked for (the browser test reads it)

  // --- filters: a street narrows the communities offered; a choice applies at once
  const form = document.getElementById("wall-filters");
  if (form) {
    const street = form.elements.street;
    const community = form.elements.community;
    const offer = () => {
      for (const option of community.options) {
        option.hidden = Boolean(street.value && option.dataset.street && option.dataset.street !== street.value);
      }
      if (community.selectedOptions[0] && community.selectedOptions[0].hidden) community.value = "";
    };
    offer();
    street.addEventListener("change", () => { offer(); form.requestSubmit(); });
    community.addEventListener("change", () => form.requestSubmit());
    form.elements.category.addEventListener("change", () => form.requestSubmit());
  }

  // --- the clock
  const clock = document.getElementById("wall-clock");
  const showTime = () => {
    clock.textContent = new Date().toLocaleString("zh-CN", { hour12: false, timeZone: "Asia/Shanghai" });
  };
  showTime();
  setInterval(showTime, 1000);

  // --- charts
  const big = settings.display ? 22 : 13;
  const percent = (v) => (v === null || v === undefined ? "—" : `${(v * 100).toFixed(1)}%`);
  const ratesChart = echarts.init(document.getElementById("chart-rates"));
  const rankingChart = echarts.init(document.getElementById("chart-ranking"));
  const drawCharts = (charts) => {
    document.getElementById("chart-month").textContent = charts.month;
    ratesChart.setOption({
      animation: false, // a wall redraws often; each picture whole at once
      grid: { left: 10, right: 10, top: 40, bottom: 10, containLabel: true },
      xAxis: { type: "category", data: charts.rates.map((r) => r.name), axisLabel: { fontSize: big } },
      yAxis: { type: "value", min: 0, max: 1, axisLabel: { formatter: (v) => `${v * 100}%` } },
      series: [{
        type: "bar", barWidth: "45%",
        data: charts.rates.map((r) => ({ value: r.value, itemStyle: { color: ["#1d39c4", "#389e0d", "#d48806"][charts.rates.indexOf(r) % 3] } })),
        label: { show: true, position: "top", fontSize: big, formatter: (p) => percent(p.value) },
      }],
      graphic: charts.rates.some((r) => r.value !== null) ? [] : [{ type: "text", left: "center", top: "middle", style: { text: "本月暂无数据 No figures yet this month", fontSize: big, fill: "#8c8c8c" } }],
    }, true);
    const ranked = charts.ranking.slice().reverse(); // the first at the top
    rankingChart.setOption({
      animation: false,
      grid: { left: 10, right: big * 4, top: 10, bottom: 10, containLabel: true },
      xAxis: { type: "value", max: 100, show: false },
      yAxis: { type: "category", data: ranked.map((e) => e.unit), axisLabel: { fontSize: big } },
      series: [{
        type: "bar", barMaxWidth: 28, data: ranked.map((e) => e.score), itemStyle: { color: "#1d39c4" },
        label: { show: true, position: "right", fontSize: big, formatter: (p) => `${p.value} 分` },
      }],
      graphic: charts.ranking.length ? [] : [{ type: "text", left: "center", top: "middle", style: { text: "本月暂无排名 No ranking yet", fontSize: big, fill: "#8c8c8c" } }],
    }, true);
  };
  drawCharts(settings.charts);
  let chartsAt = Date.now();
  window.addEventListener("resize", () => { ratesChart.resize(); rankingChart.resize(); });

  // --- display mode: pages of `rows` matters (by default as many as the screen holds),
  // turned every `rotate` seconds
  let page = 0;
  let pages = 1;
  const byCount = (matters) => matters.map((_, i) => Math.floor(i / settings.rows));
  const byHeight = (matters) => {
    // Everything shown, then a new page wherever a row (with its group's heading, when it
    // starts the page or its group) would pass the bottom of the board.
    for (const row of matters) row.hidden = false;
    for (const group of board.querySelectorAll("tbody.wall-group")) group.hidden = false;
    const table = board.querySelector("table");
    const top = table.tHead.getBoundingClientRect().bottom - board.getBoundingClientRect().top;
    const room = board.clientHeight - top;
    const pageOf = [];
    let current = 0;
    let used = 0;
    let group = null;
    for (const row of matters) {
      const own = row.closest("tbody");
      const head = own === group && used ? 0 : own.querySelector("tr.group-head").offsetHeight;
      if (used && used + head + row.offsetHeight > room) {
        current += 1;
        used = own.querySelector("tr.group-head").offsetHeight;
      } else {
        used += head;
      }
      used += row.offsetHeight;
      group = own;
      pageOf.push(current);
    }
    return pageOf;
  };
  const paginate = () => {
    if (!settings.display) return;
    const matters = [...board.querySelectorAll("tr.matter")];
    const pageOf = matters.length && !settings.rows ? byHeight(matters) : byCount(matters);
    pages = Math.max(1, (pageOf.at(-1) ?? 0) + 1);
    if (page >= pages) page = 0;
    matters.forEach((row, i) => { row.hidden = pageOf[i] !== page; });
    for (const group of board.querySelectorAll("tbody.wall-group")) {
      group.hidden = !group.querySelector("tr.matter:not([hidden])");
    }
    pageLabel.textContent = `第 ${page + 1}/${pages} 页 Page ${page + 1} of ${pages}`;
  };
  if (settings.display) {
    paginate();
    setInterval(() => { page = (page + 1) % pages; paginate(); }, settings.rotate * 1000);
    document.querySelector(".wall-head").addEventListener("click", () => {
      if (!document.fullscreenElement) document.documentElement.requestFullscreen().catch(() => {});
    });
  }

  // --- live: the stream says the board changed; one fetch at a time, a change meanwhile
  // fetches once more afterwards
  let fetching = false;
  let again = false;
  const refresh = async () => {
    if (fetching) { again = true; return; }
    fetching = true;
    try {
      const response = await fetch(`/wall/board?${query}`, { headers: { Accept: "text/html" } });
      if (response.ok) {
        board.innerHTML = await response.text();
        paginate();
      }
      if (Date.now() - chartsAt >= CHARTS_EVERY_MS) {
        chartsAt = Date.now();
        drawCharts(await jiesu.json(`/wall/charts?${query}`));
      }
    } catch (error) {
      console.warn("board refresh failed", error); // the next change or tick tries again
    } finally {
      fetching = false;
      if (again) { again = false; refresh(); }
    }
  };
  jiesu.listen("/wall/stream", () => { window.wallLive += 1; refresh(); });
  setInterval(refresh, TICK_MS);
})();

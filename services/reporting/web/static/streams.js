// The Streams page: draws each look of the sampler (the first one embedded in the page, the
// next ones as Server-Sent Events from /console/streams/live).
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const charts = { rate: echarts.init($("rate-chart")), lag: echarts.init($("lag-chart")) };
  window.addEventListener("resize", () => Object.values(charts).forEach((c) => c.resize()));
  const text = (value) => (value === null || value === undefined ? "—" : String(value));
  const cell = (value, attrs = "") => `<td ${attrs}>${text(value)}</td>`;
  const escape = (s) => text(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);

  function lines(chart, times, series) {
    chart.setOption({
      animation: false,  // redrawn at every look: an animation would never end on the figures
      tooltip: { trigger: "axis" },
      legend: { type: "scroll", top: 0 },
      grid: { left: 50, right: 20, top: 36, bottom: 30 },
      xAxis: { type: "time" },
      yAxis: { type: "value", minInterval: 1 },
      series: Object.entries(series).map(([name, values]) => ({
        name, type: "line", showSymbol: false, data: values.map((v, i) => [times[i], v]),
      })),
    }, { notMerge: true });
  }

  function draw(look) {
    $("sample-error").hidden = !look.error;
    $("sample-error").textContent = look.error ? `采样失败 Sampling failed: ${look.error}` : "";
    $("sampled-at").textContent = look.at
      ? `更新于 Updated ${new Date(look.at * 1000).toLocaleTimeString("zh-CN", { hour12: false })}`
      : "等待首次采样 Waiting for the first look…";
    $("alarms").innerHTML = look.alarms.length
      ? look.alarms.map((a) => `<li class="bad" data-testid="alarm">${escape(a.text)}</li>`).join("")
      : '<li class="good">无告警 No alarms</li>';
    const waiting = (g) => `<tr data-testid="group-${escape(g.group)}"><td><b>${escape(g.group)}</b><br><span data-testid="lag-${escape(g.group)}">共 0</span></td>
      <td colspan="4"><small>尚未提交位点 Nothing committed yet</small></td></tr>`;
    $("groups").innerHTML = look.groups.flatMap((g) => g.topics.length === 0 ? [waiting(g)] : g.topics.map((t, i) => `<tr data-testid="group-${escape(g.group)}-${escape(t.topic)}">
      ${i === 0 ? `<td rowspan="${g.topics.length}"><b>${escape(g.group)}</b><br><span data-testid="lag-${escape(g.group)}" class="${g.lag ? "warn" : "good"}">共 ${g.lag}</span></td>` : ""}
      ${cell(escape(t.topic))}${cell(t.lag, `class="num ${t.lag ? "warn" : ""}" data-testid="lag-${escape(g.group)}-${escape(t.topic)}"`)}
      ${i === 0 ? cell((g.trend > 0 ? "+" : "") + g.trend, `rowspan="${g.topics.length}" class="num ${g.trend > 0 ? "bad" : ""}"`) : ""}
      <td class="parts">${t.partitions.map((p) => `<span title="${p.committed}/${p.end}" class="${p.lag ? "warn" : ""}">${p.partition}:${p.lag}</span>`).join(" ")}</td>
    </tr>`)).join("") || '<tr><td colspan="5">—</td></tr>';
    $("topics").innerHTML = look.topics.map((t) => {
      const dlq = t.topic.endsWith(".dlq") ? look.dlq_depth[t.topic.slice(0, -4)] : null;
      return `<tr data-testid="topic-${escape(t.topic)}">${cell(escape(t.topic))}${cell(t.partitions.length, 'class="num"')}
        <td class="num" title="${t.partitions.map((p) => `${p.partition}:${p.end}`).join(" ")}">${t.end}</td>
        ${cell(t.rate, 'class="num"')}${cell(dlq === null || dlq === undefined ? "" : `<a href="/console/dead-letters?topic=${encodeURIComponent(t.topic.slice(0, -4))}" class="${dlq ? "bad" : ""}">${dlq}</a>`, 'class="num"')}</tr>`;
    }).join("");
    $("relays").innerHTML = look.relays.map((r) => `<tr data-testid="relay-${escape(r.relay)}">
      ${cell(escape(r.relay))}${r.error ? `<td colspan="4" class="error">服务未应答 ${escape(r.service)} did not answer: ${escape(r.error)}</td>` :
        cell(r.position, 'class="num"') + cell(r.head, 'class="num"') + cell(r.behind, `class="num ${r.behind ? "warn" : ""}"`) +
        cell(r.delay_s === null ? null : `${r.delay_s.toFixed(1)} s`, 'class="num"')}</tr>`).join("");
    lines(charts.rate, look.series.t, look.series.rates);
    lines(charts.lag, look.series.t, look.series.lags);
  }

  draw(JSON.parse($("first-look").textContent));
  jiesu.listen("/console/streams/live", draw);
})();

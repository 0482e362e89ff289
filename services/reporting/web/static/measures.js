// The measures page's charts: 三率 by the chosen group, and the monthly trend (ECharts).
"use strict";
(() => {
  const data = JSON.parse(document.getElementById("measures-data").textContent);
  const percent = (values) => values.map((v) => (v === null ? null : Math.round(v * 1000) / 10));
  const rateSeries = (series, type) =>
    Object.entries(series).map(([name, values]) => ({ name, type, data: percent(values), yAxisIndex: 0 }));
  const percentAxis = { type: "value", name: "%", min: 0, max: 100 };
  const draw = (id, option) => {
    const chart = echarts.init(document.getElementById(id));
    chart.setOption(Object.assign({ animation: false, tooltip: { trigger: "axis" }, legend: { top: 0 },
      grid: { left: 50, right: 50, top: 40, bottom: 60 } }, option));
    window.addEventListener("resize", () => chart.resize());
  };
  const countAxis = { type: "value", name: "件 cases", minInterval: 1 };
  const volume = (values, type) =>
    ({ name: "诉求量", type, yAxisIndex: 1, data: values, itemStyle: { color: "#bfbfbf" }, lineStyle: { type: "dashed" } });
  draw("chart-rates", {
    xAxis: { type: "category", data: data.by_group.labels, axisLabel: { interval: 0, rotate: data.by_group.labels.length > 6 ? 30 : 0 } },
    yAxis: [percentAxis, countAxis],
    series: [...rateSeries(data.by_group.series, "bar"), volume(data.by_group.volume, "line")],
  });
  draw("chart-trend", {
    xAxis: { type: "category", data: data.trend.labels },
    yAxis: [percentAxis, countAxis],
    series: [volume(data.trend.volume, "bar"), ...rateSeries(data.trend.series, "line")],
  });
})();

/* ECharts for the metrics page. Data come from a JSON script tag; labels are drawn on
   canvas and tooltips escape text, so area names cannot inject markup. Areas keep the
   server's administrative order — never sorted by a value here. */
(function () {
  "use strict";
  var node = document.getElementById("metrics-data");
  if (!node || !window.echarts) { return; }
  var data = JSON.parse(node.textContent);
  function escape(text) {
    var div = document.createElement("div");
    div.textContent = String(text);
    return div.innerHTML;
  }
  function tooltip(params) {
    var lines = [escape(params[0].axisValue)];
    params.forEach(function (p) {
      lines.push(escape(p.seriesName) + "：" + (p.value === null || p.value === undefined ? "—" : p.value + "%"));
    });
    return lines.join("<br>");
  }
  var common = {
    tooltip: {trigger: "axis", formatter: tooltip},
    legend: {top: 0},
    grid: {left: 50, right: 20, top: 40, bottom: 60},
    yAxis: {type: "value", min: 0, max: 100, axisLabel: {formatter: "{value}%"}},
    animation: false
  };
  var areas = echarts.init(document.getElementById("chart-areas"), null, {renderer: "canvas"});
  areas.setOption(Object.assign({}, common, {
    xAxis: {type: "category", data: data.areas, axisLabel: {interval: 0, rotate: data.areas.length > 8 ? 30 : 0}},
    series: [
      {name: "结案率", type: "bar", data: data.area_close_rate},
      {name: "按期结案率", type: "bar", data: data.area_on_time_rate}
    ]
  }));
  var trend = echarts.init(document.getElementById("chart-trend"), null, {renderer: "canvas"});
  trend.setOption(Object.assign({}, common, {
    xAxis: {type: "category", data: data.months},
    series: Object.keys(data.trend).map(function (name) {
      return {name: name, type: "line", data: data.trend[name], connectNulls: false};
    })
  }));
  window.addEventListener("resize", function () { areas.resize(); trend.resize(); });
  document.body.setAttribute("data-charts-ready", "1");
})();

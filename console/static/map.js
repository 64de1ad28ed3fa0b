/* Leaflet maps for the console: the big map (grids + events) and an event's small map.
   No tile layer unless the server configured one; popups are built with DOM nodes
   (textContent), never from HTML strings, so report text cannot inject markup. */
(function () {
  "use strict";

  function readJSON(id) {
    var node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  }

  function baseMap(elementId, tileUrl) {
    var map = L.map(elementId, {zoomSnap: 0.25, attributionControl: !!tileUrl});
    if (tileUrl) {
      L.tileLayer(tileUrl, {maxZoom: 19}).addTo(map);
    } else {
      map.getContainer().classList.add("no-tiles");
    }
    return map;
  }

  function popupFor(p) {
    var box = document.createElement("div");
    var link = document.createElement("a");
    link.href = p.url;
    link.textContent = p.number;
    box.appendChild(link);
    var status = document.createElement("div");
    status.textContent = p.status_name + (p.deadline === "overdue" ? " · 已超期" : p.deadline === "warning" ? " · 临期" : "");
    box.appendChild(status);
    var text = document.createElement("div");
    text.textContent = (p.category ? p.category + "：" : "") + p.text;
    box.appendChild(text);
    return box;
  }

  function areaStyle(feature) {
    var grid = feature.properties.level === "grid";
    return {color: grid ? "#1f6fd1" : "#333", weight: grid ? 1.5 : 2.5, fill: grid, fillOpacity: 0.05,
            dashArray: grid ? null : "6 4"};
  }

  function bigMap(config) {
    var map = baseMap("big-map", config.tile_url);
    var areas = L.featureGroup().addTo(map);
    var events = L.featureGroup().addTo(map);
    var counts = document.getElementById("map-counts");
    fetch(config.areas_url, {credentials: "same-origin"}).then(function (r) { return r.json(); }).then(function (data) {
      L.geoJSON(data, {
        style: areaStyle,
        onEachFeature: function (feature, layer) {
          layer.bindTooltip(feature.properties.name, {sticky: true});
          layer.getElement && layer.on("add", function () {
            var el = layer.getElement();
            if (el) { el.setAttribute("data-area-code", feature.properties.code); el.classList.add("area-" + feature.properties.level); }
          });
        }
      }).addTo(areas);
      if (areas.getLayers().length) { map.fitBounds(areas.getBounds(), {padding: [20, 20]}); }
      else { map.setView([24.51, 117.65], 12); }
      document.getElementById("big-map").setAttribute("data-areas", String(data.features.length));
      return fetch(config.events_url, {credentials: "same-origin"});
    }).then(function (r) { return r.json(); }).then(function (data) {
      L.geoJSON(data, {
        pointToLayer: function (feature, latlng) {
          var p = feature.properties;
          return L.circleMarker(latlng, {radius: 7, color: p.ring || "#ffffff", weight: p.ring ? 4 : 1.5,
                                         fillColor: p.colour, fillOpacity: 0.9, className: "event-marker status-" + p.status + " deadline-" + p.deadline});
        },
        onEachFeature: function (feature, layer) { layer.bindPopup(popupFor(feature.properties)); }
      }).addTo(events);
      if (!areas.getLayers().length && events.getLayers().length) { map.fitBounds(events.getBounds(), {padding: [20, 20]}); }
      counts.textContent = "网格 " + document.getElementById("big-map").getAttribute("data-areas") + " 个，事件 " + data.features.length + " 件";
      document.getElementById("big-map").setAttribute("data-events", String(data.features.length));
      document.getElementById("big-map").setAttribute("data-ready", "1");
    });
  }

  function smallMap(data) {
    var map = baseMap("event-map", data.tile_url);
    var group = L.featureGroup().addTo(map);
    if (data.boundary) {
      L.geoJSON(data.boundary, {style: {color: "#1f6fd1", weight: 2, fillOpacity: 0.05}}).addTo(group);
    }
    if (data.lat !== null && data.lng !== null) {
      L.circleMarker([data.lat, data.lng], {radius: 8, color: "#d11f1f", fillOpacity: 0.9}).addTo(group);
    }
    if (group.getLayers().length) {
      map.fitBounds(group.getBounds(), {padding: [20, 20], maxZoom: 17});
    } else {
      map.setView([24.51, 117.65], 11);
      document.getElementById("event-map").classList.add("unknown-place");
    }
  }

  var big = readJSON("big-map-config");
  if (big) { bigMap(big); }
  var small = readJSON("event-map-data");
  if (small) { smallMap(small); }
})();

/* e家 chat simulator: the browser says what the person did; the sandbox server builds,
   encrypts and posts the WeChat push, and returns the decrypted reply. No crypto here. */
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const MESSAGE_APIS = ["message/template/send", "message/custom/send", "message/subscribe/send"];
  const histories = new Map(); // openid → [{dir, text, img, meta, problems}]
  let callsSeen = 0;
  let picked = null; // {lat, lng} WGS-84 from the map
  let marker = null;

  function openid() { return $("openid").value.trim(); }

  function history(id) {
    if (!histories.has(id)) histories.set(id, []);
    return histories.get(id);
  }

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function render() {
    const list = $("transcript");
    list.replaceChildren();
    for (const entry of history(openid())) {
      const li = el("li", entry.dir);
      const bubble = el("div", "bubble", entry.text);
      if (entry.img) { const img = el("img"); img.src = entry.img; img.alt = "图片"; bubble.prepend(img); }
      if (entry.link) { const a = el("a", null, entry.linkText || entry.link); a.href = entry.link; a.target = "_blank"; bubble.append("\n", a); }
      li.append(bubble);
      if (entry.meta) li.append(el("div", "meta", entry.meta));
      for (const problem of entry.problems || []) li.append(el("div", "problem", "⚠ " + problem));
      list.append(li);
    }
    list.scrollTop = list.scrollHeight;
  }

  function add(id, entry) { history(id).push(entry); if (id === openid()) render(); return entry; }

  async function api(path, options) {
    const res = await fetch(path, options);
    let body = null;
    try { body = await res.json(); } catch (e) { body = null; }
    if (!res.ok) throw new Error((body && body.error && body.error.message) || ("HTTP " + res.status));
    return body;
  }

  function describeReply(reply) {
    if (reply.type === "text") return { text: reply.content };
    if (reply.type === "news") {
      const a = reply.articles[0] || {};
      return { text: "【图文】" + (a.title || "") + "\n" + (a.description || ""), link: a.url || null };
    }
    if (reply.type === "image") return { text: "[图片 " + reply.media_id + "]" };
    return { text: "[" + reply.type + "]" };
  }

  async function send(kind, payload, shown) {
    const id = openid();
    const entry = add(id, Object.assign({ dir: "out", meta: "发送中…" }, shown));
    try {
      const result = await api("/_sandbox/chat/send", {
        method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify(Object.assign({ openid: id, kind: kind }, payload)),
      });
      entry.meta = (result.status ? "HTTP " + result.status : "未送达") + " · " + result.elapsed_ms + " ms";
      if (result.reply) {
        add(id, Object.assign({ dir: "in", problems: result.problems }, describeReply(result.reply)));
      } else {
        add(id, { dir: "system", text: result.status === 200 ? "（公众号未回复 / success）" : "（无回复）", problems: result.problems });
      }
    } catch (err) {
      entry.meta = "失败";
      entry.problems = [err.message];
    }
    render();
  }

  function describeCall(call) {
    const body = call.body || {};
    if (call.api === "message/custom/send") {
      const content = body.text ? body.text.content : JSON.stringify(body[body.msgtype] || {});
      return { title: "客服消息", text: content, link: (content.match(/https?:\/\/[^\s，。]+/) || [])[0] };
    }
    const lines = Object.entries(body.data || {}).map(([k, v]) => k + ": " + (v && v.value));
    const title = call.api === "message/template/send" ? "模板消息" : "订阅消息";
    const target = body.miniprogram ? "小程序 " + (body.miniprogram.pagepath || "") : (body.url || body.page || "");
    return { title: title + " " + (body.template_id || ""), text: lines.join("\n") + (target ? "\n→ " + target : ""),
             link: body.url || null };
  }

  async function pollCalls() {
    let calls;
    try { calls = await api("/_sandbox/calls"); } catch (e) { return; }
    if (calls.length < callsSeen) callsSeen = 0; // cleared by a reset
    for (const call of calls.slice(callsSeen)) {
      const touser = call.body && call.body.touser;
      if (MESSAGE_APIS.includes(call.api) && call.errcode === 0 && touser && histories.has(touser)) {
        const d = describeCall(call);
        add(touser, { dir: "in", text: "〔" + d.title + "〕\n" + d.text, link: d.link, linkText: d.link ? "打开链接 ›" : null });
      }
    }
    callsSeen = calls.length;
    const only = $("only-me").checked;
    const list = $("calls");
    list.replaceChildren();
    for (const call of calls.filter((c) => MESSAGE_APIS.includes(c.api)).reverse()) {
      const touser = call.body && call.body.touser;
      if (only && touser !== openid()) continue;
      const d = describeCall(call);
      const li = el("li", call.errcode === 0 ? "" : "failed");
      li.append(el("span", "api", d.title), el("div", "meta", "→ " + touser + " · " + call.at + " · errcode " + call.errcode));
      li.append(el("pre", null, d.text));
      if (d.link) { const a = el("a", null, "打开链接 ›"); a.href = d.link; a.target = "_blank"; li.append(a); }
      list.append(li);
    }
  }

  function setupMap(grids) {
    const map = L.map("map", { zoomControl: true, attributionControl: false });
    const layer = L.geoJSON(grids, {
      style: (f) => ({ color: f.properties.level === "grid" ? "#07c160" : "#576b95", weight: f.properties.level === "grid" ? 1 : 2, fillOpacity: 0.08 }),
      onEachFeature: (f, l) => l.bindTooltip(f.properties.name),
    }).addTo(map);
    if (grids.features.length) map.fitBounds(layer.getBounds()); else map.setView([24.51, 117.65], 13);
    map.on("click", (e) => {
      picked = { lat: e.latlng.lat, lng: e.latlng.lng };
      if (marker) marker.setLatLng(e.latlng); else marker = L.marker(e.latlng).addTo(map);
      $("send-location").disabled = false;
      $("send-location-event").disabled = false;
    });
    layer.on("click", (e) => map.fire("click", { latlng: e.latlng }));
  }

  function fillWorld(world) {
    $("callback-url").textContent = world.callback_url;
    $("datum").textContent = world.location_datum === "gcj02" ? "GCJ-02" : "WGS-84（不转换）";
    const identity = $("identity");
    const residents = el("optgroup"); residents.label = "居民";
    const custom = el("option", null, "自定义居民（在下方填写 OpenID）"); custom.value = "";
    residents.append(custom); identity.append(residents);
    for (const group of world.staff) {
      const og = el("optgroup"); og.label = group.label;
      for (const p of group.people) {
        const o = el("option", null, p.name + " · " + p.area); o.value = p.openid; og.append(o);
      }
      identity.append(og);
    }
    for (const item of world.menu) {
      const b = el("button", "secondary", item.name); b.type = "button"; b.dataset.key = item.key;
      b.addEventListener("click", () => send("click", { key: item.key }, { text: "[菜单] " + item.name }));
      $("menu").append(b);
    }
    for (const unit of world.units) { const o = el("option", null, unit.label); o.value = unit.url; $("unit").append(o); }
    if (!world.units.length) { const o = el("option", null, "（无楼栋数据）"); o.value = ""; $("unit").append(o); }
    if (world.note) { $("world-note").hidden = false; $("world-note").textContent = world.note; }
    setupMap(world.grids);
  }

  function wire() {
    $("identity").addEventListener("change", (e) => { if (e.target.value) $("openid").value = e.target.value; render(); pollCalls(); });
    $("openid").addEventListener("change", () => { render(); pollCalls(); });
    // 网页授权 in the sandbox answers with this person's openid (wechat/sandbox/oauth.py): the
    // cookie is the browser's, so every port of this host (the H5 pages too) shares it.
    const remember = () => { if (openid()) document.cookie = "ejia_sandbox_openid=" + encodeURIComponent(openid()) + "; path=/; max-age=31536000; samesite=lax"; };
    $("identity").addEventListener("change", remember);
    $("openid").addEventListener("change", remember);
    remember();
    $("composer").addEventListener("submit", (e) => {
      e.preventDefault();
      const text = $("text").value;
      if (!text.trim()) return;
      $("text").value = "";
      send("text", { text: text }, { text: text });
    });
    document.querySelectorAll("[data-action]").forEach((b) => b.addEventListener("click", () =>
      send(b.dataset.action, {}, { text: b.dataset.action === "subscribe" ? "[关注公众号]" : "[取消关注]" })));
    const label = () => $("location-label").value;
    $("send-location").addEventListener("click", () => send("location", Object.assign({ label: label() }, picked),
      { text: "[位置] " + (label() ? label() + " " : "") + picked.lat.toFixed(5) + ", " + picked.lng.toFixed(5) + " (WGS-84)" }));
    $("send-location-event").addEventListener("click", () => send("location_event", picked,
      { text: "[上报地理位置] " + picked.lat.toFixed(5) + ", " + picked.lng.toFixed(5) }));
    $("send-picture").addEventListener("click", async () => {
      const file = $("picture").files[0];
      if (!file) { add(openid(), { dir: "system", text: "请先选择图片" }); return; }
      const form = new FormData(); form.append("file", file); form.append("kind", "image");
      try {
        const media = await api("/_sandbox/media", { method: "POST", body: form });
        send("image", { media_id: media.media_id }, { text: "", img: "/_sandbox/media/" + media.media_id });
      } catch (err) { add(openid(), { dir: "system", text: "上传失败：" + err.message }); }
    });
    $("send-voice").addEventListener("click", () => {
      const text = $("voice-text").value;
      send("voice", { recognition: text }, { text: "[语音] " + (text || "（未识别）") });
    });
    $("scan-unit").addEventListener("click", () => {
      const url = $("unit").value;
      if (url) send("scan_unit", { scan_result: url }, { text: "[扫一扫] " + url });
    });
    $("scan-qr").addEventListener("click", () => {
      const scene = $("scene").value.trim();
      if (scene) send("scan_qr", { scene: scene, first_follow: $("first-follow").checked }, { text: "[扫码] 场景 " + scene });
    });
    $("only-me").addEventListener("change", pollCalls);
  }

  wire();
  api("/_sandbox/chat/world").then(fillWorld).catch((err) => {
    $("world-note").hidden = false; $("world-note").textContent = "载入失败：" + err.message;
  });
  pollCalls();
  setInterval(pollCalls, 1500);
})();

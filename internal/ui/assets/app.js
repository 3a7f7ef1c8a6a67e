// banger's web UI. Every call goes to the daemon's own API under /api/v1
// (the same handlers as the CLI's); the VM list and stats arrive on one
// server-sent event stream (/ui/events), consoles on /ui/console/NAME,
// shells over a WebSocket on /ui/shell/NAME. No polling.
"use strict";

const $ = (sel) => document.querySelector(sel);
const el = (tag, attrs = {}, ...kids) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null) e.setAttribute(k, v);
  }
  for (const k of kids) e.append(k);
  return e;
};

const state = { vms: [], stats: {}, charts: {}, page: null, vm: null, live: null };
const HISTORY = 60; // stats samples kept per VM

function showError(msg) {
  const box = $("#error");
  box.textContent = msg;
  box.hidden = !msg;
}

// apiError reads an API error answer: {"kind", "message", "op_id"}.
async function apiError(resp) {
  try {
    const e = await resp.json();
    return e.message + (e.op_id ? " (op " + e.op_id + ")" : "");
  } catch (_) {
    return resp.status + " " + resp.statusText;
  }
}

async function api(method, path, body, signal) {
  const opts = { method, headers: {}, signal };
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  const resp = await fetch("/api/v1" + path, opts);
  if (!resp.ok) throw new Error(await apiError(resp));
  return resp;
}

// apiEvents calls an endpoint that answers with NDJSON events and hands
// each progress or log event to onEvent; it resolves with the result.
async function apiEvents(method, path, body, onEvent, signal) {
  const resp = await api(method, path, body, signal);
  const reader = resp.body.getReader();
  const dec = new TextDecoder();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (value) buf += dec.decode(value, { stream: true });
    let i;
    while ((i = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      if (!line.trim()) continue;
      const ev = JSON.parse(line);
      if (ev.type === "error") throw new Error(ev.error.message + (ev.error.op_id ? " (op " + ev.error.op_id + ")" : ""));
      if (ev.type === "result") return ev.result;
      onEvent(ev);
    }
    if (done) throw new Error("the daemon ended the answer early");
  }
}

function fmtMiB(mib) { return mib >= 1024 ? (mib / 1024).toFixed(mib % 1024 ? 1 : 0) + " GiB" : mib + " MiB"; }
function fmtBytes(b) {
  const u = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (b >= 1024 && i < u.length - 1) { b /= 1024; i++; }
  return (i ? b.toFixed(1) : b) + " " + u[i];
}
function fmtUptime(s) {
  if (s === undefined) return "–";
  s = Math.floor(s);
  const d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
  if (d) return d + "d " + h + "h";
  if (h) return h + "h " + m + "m";
  return m + "m " + (s % 60) + "s";
}

// ---- live events ----

function connectEvents() {
  const es = new EventSource("/ui/events");
  state.live = es;
  es.onopen = () => { $("#live").textContent = "live"; $("#live").classList.add("on"); };
  es.onerror = () => { $("#live").textContent = "reconnecting…"; $("#live").classList.remove("on"); };
  es.addEventListener("vms", (e) => { state.vms = JSON.parse(e.data) || []; renderVMs(); renderVMHeader(); });
  es.addEventListener("stats", (e) => addStats(JSON.parse(e.data)));
  es.addEventListener("failure", (e) => showError(JSON.parse(e.data)));
}

function addStats(s) {
  const h = state.stats[s.name] || (state.stats[s.name] = { t: [], load: [], mem: [], last: null });
  h.t.push(Date.parse(s.at) / 1000);
  h.load.push(s.load1);
  h.mem.push(s.mem_total ? 100 * (s.mem_total - s.mem_available) / s.mem_total : 0);
  for (const k of ["t", "load", "mem"]) if (h[k].length > HISTORY) h[k].shift();
  h.last = s;
  const up = document.querySelector(`tr[data-name="${CSS.escape(s.name)}"] .uptime`);
  if (up) up.textContent = fmtUptime(s.uptime_seconds);
  const c = state.charts[s.name];
  if (c) c.setData([h.t, h.load, h.mem]);
  if (state.page === "vm" && state.vm === s.name) renderStatsTab(h);
}

// ---- VMs page ----

function chartOpts(width, height, axes) {
  return {
    width, height, legend: { show: axes }, cursor: { show: axes },
    axes: axes ? [{}, { label: "load" }, { side: 1, label: "mem %" }] : [{ show: false }, { show: false }],
    scales: { x: { time: true }, load: { auto: true }, mem: { range: [0, 100] } },
    series: [{}, { label: "load", scale: "load", stroke: "#3b82f6" }, { label: "mem %", scale: "mem", stroke: "#f59e0b" }],
  };
}

function actionButtons(v) {
  const running = v.state === "running";
  const b = (label, act, enabled, cls) => el("button", {
    class: cls || "", "data-action": act, ...(enabled ? {} : { disabled: "" }),
    onclick: () => act === "delete" ? confirmDelete(v.name) : vmAction(v.name, act),
  }, label);
  return el("div", { class: "actions" },
    b("Start", "start", !running), b("Stop", "stop", running), b("Restart", "restart", running),
    b("Kill", "kill", running), b("Delete", "delete", true, "danger"));
}

function renderVMs() {
  const body = $("#vm-rows");
  const seen = new Set();
  for (const v of state.vms) {
    seen.add(v.name);
    let tr = body.querySelector(`tr[data-name="${CSS.escape(v.name)}"]`);
    if (!tr) {
      tr = el("tr", { "data-name": v.name });
      body.append(tr);
    }
    const h = state.stats[v.name];
    const chartCell = el("td", { class: "chart" });
    tr.replaceChildren(
      el("td", { "data-label": "Name" }, el("a", { href: "#/vm/" + encodeURIComponent(v.name), class: "name" }, v.name)),
      el("td", { "data-label": "State" }, el("span", { class: "state " + v.state }, v.state)),
      el("td", { "data-label": "Image" }, v.image),
      el("td", { "data-label": "IP" }, v.ip || "–"),
      el("td", { "data-label": "vCPUs" }, String(v.vcpus)),
      el("td", { "data-label": "Memory" }, fmtMiB(v.memory_mib)),
      el("td", { "data-label": "Uptime", class: "uptime" }, v.state === "running" && h && h.last ? fmtUptime(h.last.uptime_seconds) : "–"),
      chartCell,
      el("td", { "data-label": "Actions" }, actionButtons(v)),
    );
    if (state.charts[v.name]) state.charts[v.name].destroy();
    delete state.charts[v.name];
    if (v.state === "running") {
      state.charts[v.name] = new uPlot(chartOpts(140, 36, false), h ? [h.t, h.load, h.mem] : [[], [], []], chartCell);
    }
  }
  for (const tr of [...body.children]) {
    if (!seen.has(tr.dataset.name)) {
      if (state.charts[tr.dataset.name]) state.charts[tr.dataset.name].destroy();
      delete state.charts[tr.dataset.name];
      tr.remove();
    }
  }
  $("#vm-empty").hidden = state.vms.length > 0;
}

async function vmAction(name, act) {
  showError("");
  try {
    await apiEvents("POST", "/vms/" + encodeURIComponent(name) + "/" + act, undefined, () => {});
  } catch (e) { showError(e.message); }
}

function confirmDelete(name) {
  const d = $("#confirm");
  $("#confirm-text").textContent = `Delete VM ${name} and its disks? This cannot be undone.`;
  d.onclose = async () => {
    if (d.returnValue !== "ok") return;
    showError("");
    try { await api("DELETE", "/vms/" + encodeURIComponent(name)); } catch (e) { showError(e.message); }
  };
  d.returnValue = "";
  d.showModal();
  $("#confirm-cancel").focus();
}

async function createVM(ev) {
  ev.preventDefault();
  showError("");
  const f = new FormData(ev.target);
  const req = { nat: f.get("nat") === "on", cold: f.get("cold") === "on" };
  if (f.get("name")) req.name = f.get("name");
  if (f.get("image")) req.image = f.get("image");
  if (f.get("vcpus")) req.vcpus = Number(f.get("vcpus"));
  if (f.get("memory_mib")) req.memory_mib = Number(f.get("memory_mib"));
  if (f.get("disk_size")) req.disk_size = f.get("disk_size");
  const out = $("#create-progress");
  const btn = $("#create-submit");
  btn.disabled = true;
  out.textContent = "creating…\n";
  try {
    const vm = await apiEvents("POST", "/vms", req, (e) => {
      const line = e.total ? `${e.step || ""} ${e.message || ""} ${Math.round(100 * e.done / e.total)}%` : (e.message || e.step || "");
      out.textContent += line.trim() + "\n";
      out.scrollTop = out.scrollHeight;
    });
    out.textContent += `VM ${vm.name} is ${vm.state}\n`;
    ev.target.reset();
  } catch (e) {
    out.textContent += "failed: " + e.message + "\n";
    showError(e.message);
  } finally {
    btn.disabled = false;
  }
}

// ---- VM page ----

const vmPage = { console: null, consoleES: null, shell: null, shellWS: null, statsChart: null, fits: [] };

function renderVMHeader() {
  if (state.page !== "vm") return;
  const v = state.vms.find((x) => x.name === state.vm);
  const s = $("#vm-state");
  s.textContent = v ? v.state : "gone";
  s.className = "state " + (v ? v.state : "");
}

function term(panel) {
  const dark = matchMedia("(prefers-color-scheme: dark)").matches;
  const t = new Terminal({
    convertEol: false, scrollback: 5000, fontSize: 13,
    theme: dark ? { background: "#111827", foreground: "#e5e7eb" } : { background: "#ffffff", foreground: "#111827", cursor: "#111827", selectionBackground: "#bfdbfe" },
  });
  const fit = new FitAddon.FitAddon();
  t.loadAddon(fit);
  t.open(panel);
  vmPage.fits.push(fit);
  try { fit.fit(); } catch (_) {}
  return { t, fit };
}

function closeVMPage() {
  if (vmPage.consoleES) vmPage.consoleES.close();
  if (vmPage.shellWS) vmPage.shellWS.close();
  if (vmPage.console) vmPage.console.t.dispose();
  if (vmPage.shell) vmPage.shell.t.dispose();
  if (vmPage.statsChart) vmPage.statsChart.destroy();
  Object.assign(vmPage, { console: null, consoleES: null, shell: null, shellWS: null, statsChart: null, fits: [] });
  $("#panel-console").replaceChildren();
  $("#panel-shell").replaceChildren();
  $("#stats-chart").replaceChildren();
}

function openConsole(name) {
  const c = term($("#panel-console"));
  c.t.options.disableStdin = true;
  vmPage.console = c;
  const es = new EventSource("/ui/console/" + encodeURIComponent(name));
  vmPage.consoleES = es;
  es.addEventListener("data", (e) => {
    const bin = atob(JSON.parse(e.data));
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    c.t.write(bytes);
  });
  es.addEventListener("failure", (e) => { c.t.write("\r\n[" + JSON.parse(e.data) + "]\r\n"); es.close(); });
  es.onerror = () => { if (es.readyState === EventSource.CLOSED) c.t.write("\r\n[console closed]\r\n"); };
}

function openShell(name) {
  const s = term($("#panel-shell"));
  vmPage.shell = s;
  const q = `?cols=${s.t.cols}&rows=${s.t.rows}`;
  const ws = new WebSocket(`ws://${location.host}/ui/shell/${encodeURIComponent(name)}${q}`);
  ws.binaryType = "arraybuffer";
  vmPage.shellWS = ws;
  const send = (m) => { if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(m)); };
  ws.onmessage = (e) => s.t.write(typeof e.data === "string" ? e.data : new Uint8Array(e.data));
  ws.onclose = () => s.t.write("\r\n[shell closed]\r\n");
  ws.onerror = () => s.t.write("\r\n[cannot open a shell: is the VM running?]\r\n");
  s.t.onData((d) => send({ type: "data", data: d }));
  s.t.onResize(({ cols, rows }) => send({ type: "resize", cols, rows }));
  s.t.focus();
}

function renderStatsTab(h) {
  if (!h || $("#panel-stats").hidden) return;
  const box = $("#stats-chart");
  const w = Math.max(280, Math.min(box.clientWidth || 600, 900));
  if (!vmPage.statsChart) vmPage.statsChart = new uPlot(chartOpts(w, 220, true), [h.t, h.load, h.mem], box);
  else vmPage.statsChart.setData([h.t, h.load, h.mem]);
  const s = h.last;
  $("#stats-text").textContent = s ? [
    `load ${s.load1} ${s.load5} ${s.load15}`,
    `memory ${fmtBytes(s.mem_total - s.mem_available)} used of ${fmtBytes(s.mem_total)}`,
    ...(s.disks || []).map((d) => `disk ${d.path}: ${fmtBytes(d.total - d.free)} used of ${fmtBytes(d.total)}`),
    `uptime ${fmtUptime(s.uptime_seconds)}`,
  ].join("\n") : "";
}

function selectTab(tab) {
  for (const b of document.querySelectorAll("[role=tab]")) {
    const on = b.dataset.tab === tab;
    b.setAttribute("aria-selected", on);
    b.tabIndex = on ? 0 : -1;
    $("#panel-" + b.dataset.tab).hidden = !on;
  }
  if (tab === "shell" && !vmPage.shell) openShell(state.vm);
  if (tab === "stats") renderStatsTab(state.stats[state.vm]);
  if (tab === "ports") loadPorts(state.vm);
  if (tab === "workspace") renderWorkspace();
  if (tab === "logs") loadLogs(state.vm);
  for (const f of vmPage.fits) { try { f.fit(); } catch (_) {} }
  if (tab === "shell" && vmPage.shell) vmPage.shell.t.focus();
}

// forwards are the port forwards this page holds open, by guest port:
// each is a POST /forwards stream that lasts until it is aborted.
const forwards = {};

function forwardCell(name, port) {
  const cell = el("td", {});
  const f = forwards[name + ":" + port];
  if (f) {
    cell.append(el("a", { href: "http://" + f.listen + "/", target: "_blank", rel: "noopener" }, f.listen || "…"), " ",
      el("button", { onclick: () => { f.abort.abort(); delete forwards[name + ":" + port]; loadPorts(name); } }, "Stop"));
    return cell;
  }
  cell.append(el("button", { onclick: () => startForward(name, port) }, "Forward"));
  return cell;
}

async function startForward(name, port) {
  const key = name + ":" + port;
  const f = { abort: new AbortController(), listen: "" };
  forwards[key] = f;
  loadPorts(name);
  try {
    await apiEvents("POST", "/vms/" + encodeURIComponent(name) + "/forwards", { spec: "0:" + port }, (e) => {
      if (e.type === "forward") { f.listen = e.result.listen; loadPorts(name); }
    }, f.abort.signal);
  } catch (e) {
    if (e.name !== "AbortError") showError(e.message);
  }
  if (forwards[key] === f) { delete forwards[key]; loadPorts(name); }
}

async function loadPorts(name) {
  showError("");
  try {
    const ports = await (await api("GET", "/vms/" + encodeURIComponent(name) + "/ports")).json();
    $("#port-rows").replaceChildren(...(ports || []).map((p) => el("tr", {},
      el("td", {}, p.proto), el("td", {}, p.address), el("td", {}, String(p.port)), el("td", {}, p.process || ""),
      p.proto.startsWith("tcp") ? forwardCell(name, p.port) : el("td", {}))));
  } catch (e) { showError(e.message); }
}

function renderWorkspace() {
  const v = state.vms.find((x) => x.name === state.vm);
  const ws = v && v.workspace;
  $("#ws-none").hidden = !!ws;
  $("#ws-actions").hidden = !ws;
  $("#ws-info").replaceChildren(...(ws ? [["Host repository", ws.host_path], ["In the guest", ws.guest_path],
    ["Base commit", ws.head], ["Updated", ws.updated_at ? new Date(ws.updated_at).toLocaleString() : ""]]
    .flatMap(([k, val]) => [el("dt", {}, k), el("dd", {}, val || "–")]) : []));
}

// loadLogs lists what the daemon did to the VM: its operation records
// (create, start, stop, idle stop, time-to-live delete...), newest first.
async function loadLogs(name) {
  showError("");
  try {
    const ops = (await (await api("GET", "/ops?all=1")).json() || []).filter((o) => o.target === name);
    ops.sort((a, b) => (a.started < b.started ? 1 : -1));
    $("#logs-none").hidden = ops.length > 0;
    $("#log-rows").replaceChildren(...ops.map((o) => {
      const took = o.ended ? ((new Date(o.ended) - new Date(o.started)) / 1000).toFixed(1) + " s" : "running";
      return el("tr", {}, el("td", {}, o.kind), el("td", {}, o.state),
        el("td", {}, new Date(o.started).toLocaleString()), el("td", {}, took),
        el("td", {}, o.error || o.message || o.step || ""));
    }));
  } catch (e) { showError(e.message); }
}

// downloadConsole saves the VM's whole serial console log as a file.
async function downloadConsole() {
  showError("");
  try {
    const resp = await api("GET", "/vms/" + encodeURIComponent(state.vm) + "/logs?offset=0");
    saveBlob(await resp.blob(), state.vm + "-console.log");
  } catch (e) { showError(e.message); }
}

// saveBlob hands blob to the browser as a download called name.
function saveBlob(blob, name) {
  const url = URL.createObjectURL(blob);
  const a = el("a", { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

// downloadPatch fetches the workspace's patch and saves it as a file; an
// error is shown as the daemon words it.
async function downloadPatch(since) {
  showError("");
  try {
    const resp = await fetch("/ui/workspace/" + encodeURIComponent(state.vm) + "/patch" + (since ? "?since=base" : ""));
    if (!resp.ok) throw new Error(await apiError(resp));
    saveBlob(await resp.blob(), state.vm + ".patch");
  } catch (e) { showError(e.message); }
}

// ---- Images page ----

async function pullImage(ev) {
  ev.preventDefault();
  showError("");
  const f = new FormData(ev.target);
  const req = { ref: f.get("ref") };
  if (f.get("name")) req.name = f.get("name");
  const out = $("#pull-progress"), bar = $("#pull-bar"), btn = $("#pull-submit");
  btn.disabled = true;
  bar.hidden = false;
  bar.removeAttribute("value");
  out.textContent = "";
  try {
    const img = await apiEvents("POST", "/images/pull", req, (e) => {
      if (e.total) { bar.max = e.total; bar.value = e.done; }
      if (e.message) { out.textContent += e.message + "\n"; out.scrollTop = out.scrollHeight; }
    });
    out.textContent += `pulled ${img.name}\n`;
    ev.target.reset();
    loadImages();
  } catch (e) {
    out.textContent += "failed: " + e.message + "\n";
    showError(e.message);
  } finally {
    btn.disabled = false;
    bar.hidden = true;
  }
}

async function loadImages() {
  showError("");
  try {
    const imgs = await (await api("GET", "/images")).json();
    const used = new Set(state.vms.map((v) => v.image));
    $("#image-rows").replaceChildren(...imgs.map((i) => el("tr", { "data-name": i.name },
      el("td", { "data-label": "Name" }, i.name),
      el("td", { "data-label": "Source" }, i.source || ""),
      el("td", { "data-label": "Size" }, fmtBytes(i.size_bytes || 0)),
      el("td", { "data-label": "Actions" }, el("button", {
        class: "danger", ...(used.has(i.name) ? { disabled: "", title: "in use by a VM" } : {}),
        onclick: async () => {
          try { await api("DELETE", "/images/" + encodeURIComponent(i.name)); loadImages(); } catch (e) { showError(e.message); }
        },
      }, "Delete")))));
    const sel = $("#create-image");
    sel.replaceChildren(el("option", { value: "" }, "(default)"), ...imgs.map((i) => el("option", { value: i.name }, i.name)));
  } catch (e) { showError(e.message); }
}

// ---- Host page ----

async function loadHost() {
  showError("");
  $("#host-wait").hidden = false;
  $("#host-checks").replaceChildren();
  try {
    const resp = await fetch("/ui/host");
    if (!resp.ok) throw new Error(await apiError(resp));
    const rep = await resp.json();
    $("#host-vmm").textContent = rep.vmm ? "VMM: " + rep.vmm : "no usable VMM";
    const mark = { ok: "✓", warn: "!", fail: "✗", info: "i" };
    $("#host-checks").replaceChildren(...(rep.checks || []).map((c) => el("li", { class: "check-" + c.status },
      el("span", { class: "mark", "aria-label": c.status }, mark[c.status] || "?"),
      el("div", {}, el("strong", {}, c.name), c.detail ? el("div", { class: "detail" }, c.detail) : "",
        c.fix ? el("div", { class: "fix" }, "Fix: " + c.fix) : ""))));
  } catch (e) { showError(e.message); }
  $("#host-wait").hidden = true;
}

// ---- routing ----

function route() {
  const hash = location.hash || "#/";
  closeVMPage();
  let page = "vms";
  if (hash.startsWith("#/vm/")) {
    page = "vm";
    state.vm = decodeURIComponent(hash.slice(5));
  } else if (hash === "#/images") page = "images";
  else if (hash === "#/host") page = "host";
  state.page = page;
  for (const p of ["vms", "vm", "images", "host"]) $("#page-" + p).hidden = p !== page;
  for (const a of document.querySelectorAll("nav a")) a.toggleAttribute("aria-current", a.dataset.page === page || (page === "vm" && a.dataset.page === "vms"));
  if (page === "vm") {
    $("#vm-title").textContent = state.vm;
    renderVMHeader();
    openConsole(state.vm);
    selectTab("console");
  }
  if (page === "images" || page === "vms") loadImages();
  if (page === "host") loadHost();
  $("#main").focus({ preventScroll: true });
}

function init() {
  $("#create-form").addEventListener("submit", createVM);
  $("#pull-form").addEventListener("submit", pullImage);
  $("#ports-refresh").addEventListener("click", () => loadPorts(state.vm));
  $("#logs-refresh").addEventListener("click", () => loadLogs(state.vm));
  $("#logs-console").addEventListener("click", downloadConsole);
  $("#ws-patch").addEventListener("click", () => downloadPatch(false));
  $("#ws-patch-base").addEventListener("click", () => downloadPatch(true));
  for (const b of document.querySelectorAll("[role=tab]")) b.addEventListener("click", () => selectTab(b.dataset.tab));
  $(".tabs").addEventListener("keydown", (e) => {
    const tabs = [...document.querySelectorAll("[role=tab]")];
    const i = tabs.indexOf(document.activeElement);
    if (i < 0 || (e.key !== "ArrowRight" && e.key !== "ArrowLeft")) return;
    const next = tabs[(i + (e.key === "ArrowRight" ? 1 : tabs.length - 1)) % tabs.length];
    next.focus();
    selectTab(next.dataset.tab);
  });
  addEventListener("resize", () => { for (const f of vmPage.fits) { try { f.fit(); } catch (_) {} } });
  addEventListener("hashchange", route);
  connectEvents();
  route();
}

init();

// The sqlkv inspector's page. Every key and value is untrusted: it only ever becomes a text node
// (textContent, createTextNode, input values), never markup. No external resource, no build step.
"use strict";

const state = { info: null, timer: null, live: null, route: 0 };  // route: bumped on every navigation

// -- small helpers ---------------------------------------------------------------------------------------------

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "text") node.textContent = String(value);
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name === "value") node.value = value;
    else if (name === "checked") node.checked = !!value;
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function size(bytes) {
  if (bytes === null || bytes === undefined) return "unlimited";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let n = bytes, i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i === 0 ? String(n) : n.toFixed(1)) + " " + units[i];
}

function duration(seconds) {
  if (!seconds) return "unlimited";
  const parts = [];
  for (const [unit, span] of [["d", 86400], ["h", 3600], ["m", 60], ["s", 1]]) {
    if (seconds >= span) { parts.push(Math.floor(seconds / span) + unit); seconds %= span; }
  }
  return parts.join("") || seconds + "s";
}

function age(iso) {
  if (!iso) return "never";
  const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (s < 1) return "just now";
  if (s < 60) return Math.floor(s) + "s ago";
  if (s < 3600) return Math.floor(s / 60) + "m ago";
  if (s < 86400) return Math.floor(s / 3600) + "h ago";
  return Math.floor(s / 86400) + "d ago";
}

const enc = encodeURIComponent;
const bucketUrl = (b) => "/api/buckets/" + enc(b);
const keyHash = (b, k) => "#/b/" + enc(b) + "/k/" + enc(k);

async function api(path, options) {
  const response = await fetch(path, Object.assign({ credentials: "same-origin" }, options || {}));
  let data = null;
  try { data = await response.json(); } catch (e) { data = { error: response.status + " " + response.statusText }; }
  if (!response.ok) {
    const error = new Error((data && data.error) || response.statusText);
    error.status = response.status;
    error.data = data;
    throw error;
  }
  return data;
}

function post(path, body) {
  return api(path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
}

function notice(kind, text) {
  return el("div", { class: "notice " + kind, role: kind === "error" ? "alert" : "status", "data-testid": "notice-" + kind, text });
}

function show(...nodes) {
  const view = document.getElementById("view");
  view.replaceChildren(...nodes.flat().filter((node) => node !== null && node !== undefined && node !== false));
}

// A message for the buckets view; nothing when the user has moved on to another view meanwhile.
function tell(kind, text) {
  const messages = document.getElementById("messages");
  if (messages) messages.replaceChildren(notice(kind, text));
}

function crumbs(...parts) {
  const nav = document.getElementById("crumbs");
  const nodes = [];
  parts.forEach((part, i) => {
    if (i) nodes.push(el("span", { class: "sep", text: "›" }));
    nodes.push(part.href ? el("a", { href: part.href, text: part.text }) : el("span", { text: part.text }));
  });
  nav.replaceChildren(...nodes);
}

function stopTimers() {
  if (state.timer) clearInterval(state.timer);
  state.timer = null;
  if (state.live) state.live.close();
  state.live = null;
}

const writable = () => state.info && state.info.write;

// -- buckets ---------------------------------------------------------------------------------------------------

function bucketRow(b) {
  return el("tr", { "data-testid": "bucket-row", "data-bucket": b.bucket },
    el("td", {}, el("a", { href: "#/b/" + enc(b.bucket), text: b.bucket }),
      b.description ? el("div", { class: "muted", text: b.description }) : null),
    el("td", { class: "num", text: b.values.toLocaleString() }),
    el("td", { class: "num", text: b.keys.toLocaleString() }),
    el("td", { class: "num", text: size(b.bytes) }),
    el("td", { class: "num", text: String(b.history) }),
    el("td", { text: duration(b.ttl) }),
    el("td", { text: "value " + size(b.max_value_size) + " · bucket " + size(b.max_bytes) }),
    el("td", { class: "num", text: String(b.last_revision) }),
    el("td", { text: age(b.last_update), title: b.last_update || "" }),
    writable() ? el("td", {}, el("button", { class: "danger", "data-testid": "drop-bucket", "data-write": true,
      onclick: () => dropBucket(b.bucket), text: "Delete" })) : null);
}

async function dropBucket(name) {
  if (!confirm("Delete bucket " + name + " and all its data?")) return;
  try { await post(bucketUrl(name) + "/drop", {}); refreshBuckets(); }
  catch (e) { tell("error", e.message); }
}

async function refreshBuckets() {
  const body = document.getElementById("bucket-rows");
  if (!body) return;
  try {
    const data = await api("/api/buckets");
    if (!body.isConnected) return;  // the user left the buckets view while the request was out
    body.replaceChildren(...data.buckets.map(bucketRow));
    if (!data.buckets.length) body.replaceChildren(el("tr", {}, el("td", { colspan: 10, class: "muted", text: "No buckets yet." })));
    const refreshed = document.getElementById("refreshed");
    if (refreshed) refreshed.textContent = "refreshed " + new Date().toLocaleTimeString();
  } catch (e) {
    if (body.isConnected) tell("error", e.message);
  }
}

function newBucketForm() {
  const name = el("input", { type: "text", placeholder: "name", "data-testid": "new-bucket-name", required: true });
  const history = el("input", { type: "number", min: 1, max: 64, value: 1, title: "history", class: "w80" });
  const ttl = el("input", { type: "number", min: 0, placeholder: "TTL s", title: "TTL in seconds (0: none)", class: "w100" });
  const description = el("input", { type: "text", placeholder: "description" });
  const form = el("form", { class: "inline", "data-write": true, onsubmit: async (event) => {
    event.preventDefault();
    const messages = document.getElementById("messages");
    try {
      await post("/api/buckets", { name: name.value, history: Number(history.value) || 1,
        ttl: Number(ttl.value) || null, description: description.value || null });
      messages.replaceChildren(notice("ok", "Bucket " + name.value + " created."));
      name.value = ""; refreshBuckets();
    } catch (e) { messages.replaceChildren(notice("error", e.message)); }
  } }, el("b", { text: "New bucket" }), name, el("label", { class: "check" }, "history", history), ttl, description,
  el("button", { class: "primary", type: "submit", text: "Create" }));
  return el("div", { class: "panel write-only" }, form);
}

function bucketsView() {
  crumbs({ text: "Buckets" });
  const headers = ["Bucket", "Values", "Keys", "Bytes", "History", "TTL", "Limits", "Last rev", "Last update"];
  if (writable()) headers.push("");
  show(
    el("h1", { text: "Buckets" }),
    el("div", { id: "messages" }),
    writable() ? newBucketForm() : null,
    el("div", { class: "panel flush" },
      el("table", { "data-testid": "buckets" },
        el("thead", {}, el("tr", {}, headers.map((h, i) => el("th", { class: i >= 1 && i <= 4 || i === 7 ? "num" : null, text: h })))),
        el("tbody", { id: "bucket-rows" }))),
    el("p", { class: "muted", id: "refreshed" }));
  refreshBuckets();
  state.timer = setInterval(refreshBuckets, 2000);
}

// -- one bucket: status, keys, live ----------------------------------------------------------------------------

function statTiles(b) {
  const tile = (label, value) => el("div", { class: "stat" }, el("b", { text: value }), el("span", { text: label }));
  return el("div", { class: "stats", id: "stats" },
    tile("values", b.values.toLocaleString()), tile("keys", b.keys.toLocaleString()), tile("bytes", size(b.bytes)),
    tile("history", String(b.history)), tile("TTL", duration(b.ttl)), tile("last revision", String(b.last_revision)),
    tile("last update", age(b.last_update)), tile("max value", size(b.max_value_size)), tile("max bytes", size(b.max_bytes)));
}

async function refreshStats(bucket) {
  const stats = document.getElementById("stats");
  if (!stats) return;
  try { stats.replaceWith(statTiles(await api(bucketUrl(bucket)))); } catch (e) { /* the bucket view shows errors */ }
}

function tabs(bucket, active) {
  const tab = (name, href, label) => el("a", { href, class: name === active ? "active" : null, "data-testid": "tab-" + name, text: label });
  return el("nav", { class: "tabs" }, tab("keys", "#/b/" + enc(bucket), "Keys"), tab("live", "#/b/" + enc(bucket) + "/live", "Live"));
}

// null when the bucket cannot be read, or when the user navigated elsewhere while its status was out.
async function bucketHeader(bucket, active) {
  crumbs({ text: "Buckets", href: "#/" }, { text: bucket });
  const ticket = state.route;
  let status;
  try { status = await api(bucketUrl(bucket)); }
  catch (e) { if (ticket === state.route) show(el("h1", { text: bucket }), notice("error", e.message)); return null; }
  if (ticket !== state.route) return null;
  state.timer = setInterval(() => refreshStats(bucket), 2000);
  return [el("h1", {}, "Bucket ", el("span", { class: "mono", text: bucket })),
    status.description ? el("p", { class: "muted", text: status.description }) : null,
    statTiles(status), writable() && active === "keys" ? settingsForm(bucket, status) : null, tabs(bucket, active)];
}

function keyRow(bucket, k) {
  return el("tr", { "data-testid": "key-row", "data-key": k.key },
    el("td", { class: "key" }, el("a", { href: keyHash(bucket, k.key), text: k.key })),
    el("td", { class: "num", text: String(k.revision) }),
    el("td", {}, el("span", { class: "op " + k.operation, text: k.operation })),
    el("td", { class: "num", text: size(k.size) }),
    el("td", { text: age(k.created), title: k.created }));
}

async function keysView(bucket) {
  const header = await bucketHeader(bucket, "keys");
  if (!header) return;
  const params = new URLSearchParams(location.hash.split("?")[1] || "");
  const filter = el("input", { type: "text", class: "filter", placeholder: "filter: orders.*  users.>", value: params.get("filter") || "",
    "data-testid": "filter", "aria-label": "key filter (NATS wildcards)" });
  const rows = el("tbody", { "data-testid": "key-rows" });
  const more = el("button", { "data-testid": "next-page", text: "Next page", disabled: true });
  const counter = el("span", { class: "muted", "data-testid": "key-count" });
  const messages = el("div", { id: "messages" });
  let next = null, shown = 0, generation = 0;

  async function load(reset) {
    const mine = reset ? ++generation : generation;
    if (reset) { rows.replaceChildren(); next = null; shown = 0; }
    const query = new URLSearchParams({ filter: filter.value.trim() });
    if (next) query.set("after", next);
    try {
      const data = await api(bucketUrl(bucket) + "/keys?" + query);
      if (mine !== generation) return;
      rows.append(...data.keys.map((k) => keyRow(bucket, k)));
      shown += data.keys.length;
      next = data.next;
      more.disabled = !data.more;
      counter.textContent = shown + (data.more ? "+ keys shown" : " keys" + (filter.value.trim() ? " matching" : ""));
      messages.replaceChildren();
    } catch (e) { messages.replaceChildren(notice("error", e.message)); }
  }
  let pending = null;
  filter.addEventListener("input", () => { clearTimeout(pending); pending = setTimeout(() => load(true), 150); });
  more.addEventListener("click", () => load(false));

  show(header,
    el("div", { class: "toolbar" }, filter, counter, el("span", { class: "grow" }), more),
    messages,
    writable() ? putForm(bucket, () => load(true)) : null,
    el("div", { class: "panel flush" }, el("table", { "data-testid": "keys" },
      el("thead", {}, el("tr", {}, el("th", { text: "Key" }), el("th", { class: "num", text: "Revision" }),
        el("th", { text: "Op" }), el("th", { class: "num", text: "Size" }), el("th", { text: "Age" }))),
      rows)));
  load(true);
}

function settingsForm(bucket, status) {
  const number = (value, title, id) => el("input", { type: "number", min: 0, value: value === null ? "" : value, title,
    placeholder: title, class: "w140", "data-testid": "settings-" + id });
  const history = number(status.history, "history", "history");
  const ttl = number(status.ttl, "TTL (s, 0: none)", "ttl");
  const maxValue = number(status.max_value_size, "max value bytes", "max-value");
  const maxBytes = number(status.max_bytes, "max bucket bytes", "max-bytes");
  const description = el("input", { type: "text", value: status.description || "", placeholder: "description" });
  const out = el("span", {});
  const numberOrNull = (input) => (input.value === "" ? null : Number(input.value));
  return el("div", { class: "panel write-only" }, el("form", { class: "inline", "data-write": true, onsubmit: async (event) => {
    event.preventDefault();
    const body = { history: numberOrNull(history), ttl: numberOrNull(ttl), description: description.value };
    if (maxValue.value !== "") body.max_value_size = Number(maxValue.value);
    if (maxBytes.value !== "") body.max_bytes = Number(maxBytes.value);
    try {
      await post(bucketUrl(bucket) + "/config", body);
      out.replaceChildren(notice("ok", "Settings saved."));
      refreshStats(bucket);
    } catch (e) { out.replaceChildren(notice("error", e.message)); }
  } }, el("b", { text: "Settings" }), el("label", { class: "check" }, "history", history), el("label", { class: "check" }, "TTL", ttl),
  el("label", { class: "check" }, "max value", maxValue), el("label", { class: "check" }, "max bytes", maxBytes), description,
  el("button", { type: "submit", "data-testid": "save-settings", text: "Save settings" }), out));
}

function putForm(bucket, done) {
  const key = el("input", { type: "text", placeholder: "key", class: "mono", "data-testid": "put-key" });
  const value = el("input", { type: "text", placeholder: "value", class: "mono grow", "data-testid": "put-value" });
  const out = el("span", {});
  return el("div", { class: "panel write-only" }, el("form", { class: "inline", "data-write": true, onsubmit: async (event) => {
    event.preventDefault();
    try {
      const r = await post(bucketUrl(bucket) + "/put", { key: key.value, value: value.value });
      out.replaceChildren(notice("ok", "Stored " + key.value + " at revision " + r.revision + "."));
      done();
    } catch (e) { out.replaceChildren(notice("error", e.message)); }
  } }, el("b", { text: "Put" }), key, value, el("button", { class: "primary", type: "submit", "data-testid": "put-submit", text: "Put" }), out));
}

// -- live ------------------------------------------------------------------------------------------------------

async function liveView(bucket) {
  const header = await bucketHeader(bucket, "live");
  if (!header) return;
  const filter = el("input", { type: "text", class: "filter", placeholder: "filter (default: every key)", "data-testid": "live-filter" });
  const history = el("input", { type: "checkbox" });
  const initial = el("input", { type: "checkbox" });
  const noDeletes = el("input", { type: "checkbox" });
  const from = el("input", { type: "number", min: 1, placeholder: "from revision", class: "w140" });
  const start = el("button", { class: "primary", "data-testid": "live-start", text: "Restart" });
  const pause = el("button", { "data-testid": "live-pause", text: "Pause" });
  const dot = el("span", { class: "dot" });
  const status = el("span", { "data-testid": "live-status", text: "connecting" });
  const rows = el("tbody", { "data-testid": "live-rows" });
  let last = 0, paused = false;

  function connect(resumeFrom) {
    if (state.live) state.live.close();
    const query = new URLSearchParams({ filter: filter.value.trim() });
    if (resumeFrom) query.set("from_revision", String(resumeFrom));
    else if (from.value) query.set("from_revision", from.value);
    else if (history.checked) query.set("include_history", "1");
    else if (initial.checked) query.set("initial", "1");
    if (noDeletes.checked) query.set("ignore_deletes", "1");
    const source = new EventSource(bucketUrl(bucket) + "/watch?" + query);
    state.live = source;
    source.addEventListener("open", () => { dot.className = "dot on"; status.textContent = "live"; });
    source.addEventListener("ready", (event) => {
      last = Math.max(last, JSON.parse(event.data).last_revision);  // a resume starts after what was considered
      dot.className = "dot on"; status.textContent = "live (initial entries done)";
    });
    source.addEventListener("entry", (event) => {
      const e = JSON.parse(event.data);
      last = Math.max(last, e.revision);
      rows.prepend(el("tr", { class: "fresh", "data-testid": "live-row", "data-key": e.key, "data-revision": e.revision },
        el("td", { class: "num", text: String(e.revision) }),
        el("td", { class: "key" }, el("a", { href: keyHash(bucket, e.key), text: e.key })),
        el("td", {}, el("span", { class: "op " + e.operation, text: e.operation })),
        el("td", { class: "num", text: size(e.size) }),
        el("td", { class: "mono", text: e.preview }),
        el("td", { text: new Date(e.created).toLocaleTimeString() })));
      while (rows.children.length > 1000) rows.lastChild.remove();
    });
    source.addEventListener("error", () => { dot.className = "dot"; status.textContent = "reconnecting…"; });
  }
  start.addEventListener("click", () => { rows.replaceChildren(); last = 0; paused = false; pause.textContent = "Pause"; connect(0); });
  pause.addEventListener("click", () => {
    paused = !paused;
    if (paused) {
      if (state.live) state.live.close();
      state.live = null;
      dot.className = "dot paused"; status.textContent = "paused after revision " + last;
      pause.textContent = "Resume";
    } else {
      pause.textContent = "Pause";
      connect(last ? last + 1 : 0);  // the server catches up from the table
    }
  });

  show(header,
    el("div", { class: "panel" }, el("div", { class: "toolbar" }, filter,
      el("label", { class: "check" }, initial, "initial values"),
      el("label", { class: "check" }, history, "include history"),
      el("label", { class: "check" }, noDeletes, "ignore deletes"), from, start, pause),
      el("div", {}, dot, status)),
    el("div", { class: "panel live flush" }, el("table", { "data-testid": "live" },
      el("thead", {}, el("tr", {}, el("th", { class: "num", text: "Rev" }), el("th", { text: "Key" }), el("th", { text: "Op" }),
        el("th", { class: "num", text: "Size" }), el("th", { text: "Value" }), el("th", { text: "Time" }))), rows)));
  connect(0);
}

// -- an entry --------------------------------------------------------------------------------------------------

function hexDump(bytes) {
  const lines = [];
  for (let i = 0; i < bytes.length; i += 16) {
    const chunk = bytes.slice(i, i + 16);
    const hex = Array.from(chunk, (b) => b.toString(16).padStart(2, "0")).join(" ");
    const ascii = Array.from(chunk, (b) => (b >= 32 && b < 127 ? String.fromCharCode(b) : ".")).join("");
    lines.push(i.toString(16).padStart(8, "0") + "  " + hex.padEnd(48) + "  " + ascii);
  }
  return lines.join("\n");
}

function valuePanel(bucket, entry) {
  const v = entry.value;
  const bytes = Uint8Array.from(atob(v.base64), (c) => c.charCodeAt(0));
  const formats = [];
  if (v.pretty !== null) formats.push(["json", "JSON", v.pretty]);
  if (v.text !== null) formats.push(["text", "Text", v.text]);
  formats.push(["hex", "Hex", () => hexDump(bytes.slice(0, 16384)) + (bytes.length > 16384 ? "\n…" : "")]);
  formats.push(["base64", "Base64", v.base64]);
  const pre = el("pre", { class: "value", "data-testid": "value" });
  const buttons = formats.map(([name, label, content]) => el("button", { "data-format": name, text: label, onclick: () => pick(name) }));
  function pick(name) {
    const [, , content] = formats.find((f) => f[0] === name);
    pre.textContent = typeof content === "function" ? content() : content;
    buttons.forEach((b) => b.classList.toggle("active", b.dataset.format === name));
  }
  pick(formats[0][0]);
  const download = el("a", { href: bucketUrl(bucket) + "/value?" + new URLSearchParams({ key: entry.key, revision: entry.revision }),
    download: "", "data-testid": "download", text: v.truncated ? "Download the whole value (" + size(v.size) + ")" : "Download" });
  return el("div", { class: "panel" },
    el("div", { class: "toolbar" }, el("span", { class: "formats" }, buttons),
      el("span", { class: "muted", text: v.kind + " · " + size(v.size) }), el("span", { class: "grow" }), download),
    v.truncated ? notice("info", "Showing the first " + size(v.shown) + " of " + size(v.size) + ". Download the whole value for the rest.") : null,
    pre);
}

function editPanel(bucket, entry, reload) {
  const text = entry && entry.value.text !== null && !entry.value.truncated ? entry.value.text : null;
  const area = el("textarea", { "data-testid": "edit-value", value: text === null ? "" : text });
  const out = el("div", { "data-testid": "edit-result" });
  const rev = entry ? entry.revision : 0;
  async function run(action, body) {
    try {
      const r = await post(bucketUrl(bucket) + "/" + action, body);
      out.replaceChildren(notice("ok", action + " done: revision " + r.revision + "."));
      reload();
    } catch (e) { out.replaceChildren(notice("error", e.message)); }
  }
  return el("div", { class: "panel write-only", "data-write": true },
    el("h2", { class: "first", text: "Edit (compare-and-set on revision " + rev + ")" }),
    text === null && entry ? notice("info", "The value is binary or too large to edit here: saving replaces it.") : null,
    area,
    el("div", { class: "toolbar spaced" },
      el("button", { class: "primary", "data-testid": "save", text: "Save", onclick: () => run("put", { key: entryKey(), value: area.value, last: rev }) }),
      entry && entry.operation === "PUT" ? el("button", { class: "danger", "data-testid": "delete-key", text: "Delete",
        onclick: () => confirm("Delete " + entryKey() + "?") && run("delete", { key: entryKey(), last: rev }) }) : null,
      el("button", { class: "danger", "data-testid": "purge-key", text: "Purge",
        onclick: () => confirm("Purge " + entryKey() + " and its history?") && run("purge", { key: entryKey(), last: rev }) })),
    out);
}

let entryKey = () => "";

function diffBlock(lines) {
  return el("pre", { class: "diff" }, lines.map((line) => el("span", {
    class: line.startsWith("@@") ? "hunk" : line.startsWith("+") && !line.startsWith("+++") ? "add" : line.startsWith("-") && !line.startsWith("---") ? "del" : null,
  }, line + "\n")));
}

function historyPanel(bucket, key, entries) {
  return el("div", { class: "panel flush" }, el("table", { "data-testid": "history" },
    el("thead", {}, el("tr", {}, el("th", { class: "num", text: "Revision" }), el("th", { text: "Op" }), el("th", { text: "Created" }),
      el("th", { class: "num", text: "Size" }), el("th", { text: "Value / change from the previous revision" }))),
    el("tbody", {}, entries.slice().reverse().map((e) => el("tr", { "data-testid": "history-row" },
      el("td", { class: "num" }, el("a", { href: keyHash(bucket, key) + "?revision=" + e.revision, text: String(e.revision) })),
      el("td", {}, el("span", { class: "op " + e.operation, text: e.operation })),
      el("td", { text: new Date(e.created).toLocaleString(), title: e.created }),
      el("td", { class: "num", text: size(e.size) }),
      el("td", {}, el("div", { class: "mono", text: e.preview }), e.diff && e.diff.length ? diffBlock(e.diff) : null))))));
}

async function entryView(bucket, key) {
  stopTimers();
  crumbs({ text: "Buckets", href: "#/" }, { text: bucket, href: "#/b/" + enc(bucket) }, { text: key });
  entryKey = () => key;
  const params = new URLSearchParams(location.hash.split("?")[1] || "");
  const revision = params.get("revision");
  const query = new URLSearchParams({ key });
  if (revision) query.set("revision", revision);
  let entry = null, problem = null, history = [];
  const ticket = state.route;
  try { entry = await api(bucketUrl(bucket) + "/entry?" + query); }
  catch (e) { problem = e; }
  try { history = (await api(bucketUrl(bucket) + "/history?" + new URLSearchParams({ key }))).history; }
  catch (e) { if (!problem) problem = e; }
  if (ticket !== state.route) return;  // the user moved on while the entry was out
  const latest = history.length ? history[history.length - 1] : null;
  const reload = () => entryView(bucket, key);
  show(
    el("h1", {}, el("span", { class: "mono", "data-testid": "entry-key", text: key })),
    entry ? el("p", { class: "muted", text: "revision " + entry.revision + " · " + entry.operation + " · written " +
      new Date(entry.created).toLocaleString() + (revision ? " (an earlier revision)" : "") +
      (entry.expires ? " · expires in " + Math.max(0, Math.round((new Date(entry.expires) - Date.now()) / 1000)) + " s" : "")
    }) : null,
    problem ? notice(problem.data && problem.data.deleted ? "info" : "error", problem.message) : null,
    entry ? valuePanel(bucket, entry) : null,
    writable() && !revision ? editPanel(bucket, entry || (latest && { revision: latest.revision, operation: latest.operation,
      value: { text: "", truncated: false } }), reload) : null,
    el("h2", { text: "History" }),
    history.length ? historyPanel(bucket, key, history) : el("p", { class: "muted", text: "No history." }));
}

// -- routing ---------------------------------------------------------------------------------------------------

async function route() {
  stopTimers();
  state.route += 1;
  const path = location.hash.replace(/^#/, "").split("?")[0];
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  if (parts[0] === "b" && parts.length === 2) return keysView(parts[1]);
  if (parts[0] === "b" && parts.length === 3 && parts[2] === "live") return liveView(parts[1]);
  if (parts[0] === "b" && parts.length === 4 && parts[2] === "k") return entryView(parts[1], parts[3]);
  return bucketsView();
}

async function start() {
  try { state.info = await api("/api/info"); }
  catch (e) { show(notice("error", e.message)); return; }
  document.getElementById("store").textContent = state.info.store + " (" + state.info.backend + ")";
  const mode = document.getElementById("mode");
  mode.textContent = state.info.write ? "read-write" : "read-only";
  mode.classList.toggle("write", state.info.write);
  mode.setAttribute("data-testid", "mode");
  window.addEventListener("hashchange", route);
  route();
}

start();

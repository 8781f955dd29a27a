// The console's page: polls the JSON of /console/... every few seconds and draws it. No framework: the
// DOM is built with h(), text always as text (names come from databases and must never become markup).
"use strict";

const POLL_MS = 3000;
const ACTIVE = ["starting", "running", "stopping"];
let timer = null;
let generation = 0;          // a slower answer for a page left since is dropped
const tested = {};            // endpoint id -> the last Test connection's outcome, kept across redraws
const selected = new Set();   // tables ticked for a reload, kept across redraws

function h(tag, attrs, ...kids) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "class") node.className = v;
    else if (k === "style") node.style.cssText = v;  // through the CSSOM: the CSP refuses style attributes
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const kid of kids.flat(Infinity)) if (kid != null && kid !== false) node.append(kid instanceof Node ? kid : String(kid));
  return node;
}

async function call(method, path, body) {
  const init = {method, headers: {"X-DMS-Console": "1"}, credentials: "same-origin"};
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const res = await fetch(path, init);
  let doc = {};
  try { doc = await res.json(); } catch (e) { /* an empty or non-JSON answer: its status says enough */ }
  if (res.status === 401) { showLogin(); throw new Error(doc.error || "log in"); }
  if (!res.ok) throw new Error(doc.error || `${res.status} ${res.statusText}`);
  return doc;
}

function notice(text, isError) {
  const n = document.getElementById("notice");
  n.textContent = text;
  n.className = isError ? "notice error" : "notice";
  n.hidden = !text;
}

const badge = (text, kind) => h("span", {class: `badge ${String(kind || text).toLowerCase().replace(/\s+/g, "-")}`}, text);
const when = (t) => (t ? new Date(t * 1000).toLocaleString() : "");
const num = (v) => h("td", {class: "num"}, (v ?? 0).toLocaleString());

function card(title, ...kids) { return h("section", {class: "card"}, h("h2", {}, title), ...kids); }

function progress(percent) {
  return h("div", {class: "progress", title: `${percent}%`}, h("div", {style: `width:${percent}%`}));
}

// --- the dashboard --------------------------------------------------------------------------------------

function instancesCard(items) {
  const rows = items.map((i) => h("tr", {"data-instance": i.ReplicationInstanceIdentifier},
    h("td", {}, i.ReplicationInstanceIdentifier),
    h("td", {}, i.Workers.length ? badge(`${i.Workers.length} live`, "live") : badge("no live worker", "dead")),
    h("td", {}, i.Workers.length ? i.Workers.join(", ")
      : (i.LastWorkerSeenSecondsAgo == null ? "never seen" : `last seen ${i.LastWorkerSeenSecondsAgo} s ago`))));
  return card("Replication instances", h("div", {class: "scroll"}, h("table", {},
    h("tr", {}, h("th", {}, "Instance"), h("th", {}, "Workers"), h("th", {}, "")), rows)),
    items.length ? null : h("p", {class: "muted"}, "None yet: dms instance create ID"));
}

async function testEndpoint(id) {
  tested[id] = {text: "testing…"};
  render();
  try {
    const doc = await call("POST", `/console/endpoints/${encodeURIComponent(id)}/test`);
    tested[id] = {ok: true, text: [doc.Message, ...doc.Warnings.map((w) => `warning: ${w}`)].join("\n")};
  } catch (e) {
    tested[id] = {ok: false, text: e.message};
  }
  render();
}

function endpointsCard(items) {
  const rows = items.map((e) => {
    const t = tested[e.EndpointIdentifier];
    return h("tr", {"data-endpoint": e.EndpointIdentifier},
      h("td", {}, e.EndpointIdentifier), h("td", {}, e.EndpointType), h("td", {}, e.EngineName),
      h("td", {class: "hide-narrow"}, e.Address),
      h("td", {}, h("button", {type: "button", class: "secondary", onclick: () => testEndpoint(e.EndpointIdentifier)},
                    "Test connection"),
        t ? h("div", {class: `test-result ${t.ok === false ? "error" : "muted"}`, style: "white-space:pre-wrap"}, t.text)
          : null));
  });
  return card("Endpoints", h("div", {class: "scroll"}, h("table", {},
    h("tr", {}, h("th", {}, "Endpoint"), h("th", {}, "Type"), h("th", {}, "Engine"),
      h("th", {class: "hide-narrow"}, "Address"), h("th", {}, "")), rows)));
}

function tasksCard(items) {
  const rows = items.map((t) => {
    const s = t.ReplicationTaskStats || {};
    const total = (s.TablesLoaded || 0) + (s.TablesLoading || 0) + (s.TablesQueued || 0) + (s.TablesErrored || 0);
    return h("tr", {"data-task": t.ReplicationTaskIdentifier},
      h("td", {}, h("a", {href: `#/task/${encodeURIComponent(t.ReplicationTaskIdentifier)}`}, t.ReplicationTaskIdentifier)),
      h("td", {class: "hide-narrow"}, t.MigrationType),
      h("td", {class: "status", title: (t.Warnings || []).join("\n")}, badge(t.Status || "elsewhere")),
      h("td", {class: "phase"}, t.Phase || ""),
      h("td", {}, progress(s.FullLoadProgressPercent || 0),
        h("span", {class: "muted"}, `${s.FullLoadProgressPercent || 0}% · ${s.TablesLoaded || 0}/${total} tables`)));
  });
  return card("Tasks", h("div", {class: "scroll"}, h("table", {},
    h("tr", {}, h("th", {}, "Task"), h("th", {class: "hide-narrow"}, "Type"), h("th", {}, "Status"),
      h("th", {}, "Phase"), h("th", {}, "Progress")), rows)));
}

function drawOverview(doc) {
  return [h("h1", {}, "Dashboard"), instancesCard(doc.ReplicationInstances), tasksCard(doc.ReplicationTasks),
          endpointsCard(doc.Endpoints)];
}

// --- a task ---------------------------------------------------------------------------------------------

async function act(taskId, action, body, confirmText) {
  if (confirmText && !window.confirm(confirmText)) return;
  notice(`${action}…`);
  try {
    const doc = await call("POST", `/console/tasks/${encodeURIComponent(taskId)}/${action}`, body || {});
    notice(doc.Message);
    if (action === "reload") selected.clear();
  } catch (e) {
    notice(e.message, true);
  }
  render();
}

function actions(task) {
  const id = task.ReplicationTaskIdentifier, active = ACTIVE.includes(task.Status);
  const startable = !active && task.Status !== "elsewhere";
  const picked = () => [...selected];
  return h("div", {class: "actions"},
    h("button", {type: "button", id: "start", disabled: !startable, onclick: () => act(id, "start", {})}, "Start"),
    h("button", {type: "button", id: "resume", class: "secondary", disabled: !startable,
                 onclick: () => act(id, "start", {StartReplicationTaskType: "resume-processing"})}, "Resume"),
    h("button", {type: "button", id: "reload-target", class: "secondary", disabled: !startable,
                 onclick: () => act(id, "start", {StartReplicationTaskType: "reload-target"},
                                    `Load every table of ${id} again from the source?`)}, "Restart (reload target)"),
    h("button", {type: "button", id: "stop", class: "danger", disabled: task.Status !== "running" && task.Status !== "starting",
                 onclick: () => act(id, "stop")}, "Stop"),
    h("button", {type: "button", id: "reload-tables", class: "secondary", disabled: task.Status !== "running",
                 onclick: () => act(id, "reload", {Tables: picked()})}, "Reload selected tables"),
    h("button", {type: "button", id: "validate-tables", class: "secondary", disabled: task.Status !== "running",
                 onclick: () => act(id, "reload", {Tables: picked(), ValidateOnly: true})}, "Validate selected tables"));
}

function facts(task) {
  const s = task.ReplicationTaskStats;
  const pairs = [
    ["Status", badge(task.Status)], ["Phase", h("span", {id: "phase"}, task.Phase)], ["Type", task.MigrationType],
    ["Endpoints", `${task.SourceEndpointIdentifier} → ${task.TargetEndpointIdentifier}`],
    ["Instance", task.ReplicationInstanceIdentifier],
    ["Full load", h("span", {}, progress(s.FullLoadProgressPercent), ` ${s.FullLoadProgressPercent}% · ${s.TablesLoaded} loaded, `
      + `${s.TablesLoading} loading, ${s.TablesQueued} queued, ${s.TablesErrored} errored`)],
    ["Started", when(task.ReplicationTaskStartDate)],
    ["Elapsed", s.ElapsedTimeMillis ? `${Math.round(s.ElapsedTimeMillis / 1000)} s` : ""],
  ];
  if (task.StopReason) pairs.push(["Stop reason", task.StopReason]);
  return h("dl", {class: "facts"}, pairs.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
}

function charts(doc) {
  const task = doc.ReplicationTask, step = doc.SeriesStepSeconds;
  const points = doc.Series.slice();
  if (task.Status === "running") points.push({...doc.Metrics, t: doc.Timestamp - step}); // now: in no bucket yet
  const opts = {end: doc.Timestamp, step, now: doc.Metrics};
  return h("div", {class: "grid"},
    h("section", {class: "card", id: "latency-chart"}, h("h2", {}, "CDC latency (seconds), last hour"),
      window.lineChart(points, [
        {key: "CDCLatencySource", label: "CDCLatencySource", color: "#1f6feb"},
        {key: "CDCLatencyTarget", label: "CDCLatencyTarget", color: "#cf222e"}],
      {...opts, title: "CDC latency in seconds over the last hour"})),
    h("section", {class: "card", id: "throughput-chart"}, h("h2", {}, "Throughput (rows/s), last hour"),
      window.lineChart(points, [
        {key: "FullLoadThroughputRowsTarget", label: "Full load rows/s", color: "#8250df"},
        {key: "CDCThroughputRowsSource", label: "CDC source rows/s", color: "#1a7f37"},
        {key: "CDCThroughputRowsTarget", label: "CDC target rows/s", color: "#bc4c00"}],
      {...opts, title: "Rows per second over the last hour"})));
}

function tablesCard(task, tables) {
  const rows = tables.map((t) => {
    const name = `${t.SchemaName}.${t.TableName}`;
    const notes = [t.TableError && `error: ${t.TableError}`, t.ValidationStateDetails].filter(Boolean).join("; ");
    return h("tr", {"data-table": name},
      h("td", {}, h("input", {type: "checkbox", "aria-label": `select ${name}`, checked: selected.has(name),
                              onchange: (e) => (e.target.checked ? selected.add(name) : selected.delete(name))})),
      h("td", {}, name), h("td", {class: "table-state"}, badge(t.TableState, t.TableState.split(" ").pop())),
      num(t.FullLoadRows), num(t.Inserts), num(t.Updates), num(t.Deletes), num(t.Ddls),
      h("td", {class: "validation"}, t.ValidationState), num(t.ValidationFailedRecords),
      h("td", {class: notes.startsWith("error") ? "error" : "muted"}, notes));
  });
  return card("Table statistics", h("div", {class: "scroll"}, h("table", {id: "tables"},
    h("tr", {}, ["", "Table", "State", "Full load rows", "Inserts", "Updates", "Deletes", "DDLs", "Validation",
                 "Failed records", ""].map((c) => h("th", {}, c))), rows)));
}

function drawTask(doc) {
  const task = doc.ReplicationTask;
  return [
    h("h1", {}, `Task ${task.ReplicationTaskIdentifier}`),
    card("Overview", facts(task), task.LastFailureMessage ? h("p", {class: "error"}, task.LastFailureMessage) : null,
         task.Warnings.length ? h("ul", {class: "warnings"}, task.Warnings.map((w) => h("li", {}, w))) : null,
         actions(task)),
    charts(doc),
    tablesCard(task, doc.TableStatistics),
    card("Events", h("ul", {class: "muted"}, doc.Events.slice().reverse().map((e) =>
      h("li", {}, `${when(e.Date)} · ${e.EventCategories[0]} · ${e.Message}`)))),
  ];
}

// --- routing, polling, login ----------------------------------------------------------------------------

function route() {
  const m = location.hash.match(/^#\/task\/(.+)$/);
  return m ? {path: `/console/tasks/${m[1]}`, draw: drawTask} : {path: "/console/overview", draw: drawOverview};
}

async function render() {
  const mine = ++generation, r = route();
  try {
    const doc = await call("GET", r.path);
    if (mine !== generation) return;
    document.getElementById("view").replaceChildren(...r.draw(doc));
  } catch (e) {
    if (mine === generation && !document.getElementById("login").hidden) return;
    if (mine === generation) notice(e.message, true);
  }
}

function poll() {
  clearInterval(timer);
  render();
  timer = setInterval(() => { if (!document.hidden) render(); }, POLL_MS);
}

function showLogin() {
  clearInterval(timer);
  document.getElementById("login").hidden = false;
  document.getElementById("nav").hidden = true;
  document.getElementById("view").replaceChildren();
}

function showConsole(keyId) {
  document.getElementById("login").hidden = true;
  document.getElementById("nav").hidden = false;
  document.getElementById("who").textContent = keyId;
  poll();
}

document.getElementById("login-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const form = new FormData(e.target);
  try {
    const doc = await call("POST", "/console/login", {AccessKeyId: form.get("AccessKeyId"),
                                                      SecretAccessKey: form.get("SecretAccessKey")});
    document.getElementById("login-error").textContent = "";
    e.target.reset();
    showConsole(doc.AccessKeyId);
  } catch (err) {
    document.getElementById("login-error").textContent = err.message;
  }
});

document.getElementById("logout").addEventListener("click", async () => {
  await call("POST", "/console/logout").catch(() => null);
  showLogin();
});

window.addEventListener("hashchange", () => { notice(""); selected.clear(); poll(); });

call("GET", "/console/session").then((doc) => showConsole(doc.AccessKeyId)).catch(() => showLogin());

// The taskapp dashboard: a table of every owner's tasks kept live by the server's
// event stream, a task's detail, and a cancel button. Data is written as text, never
// as HTML.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { cursor: null, older: [], selected: null, versions: new Map(), abort: null };

function token() {
  return sessionStorage.getItem("taskapp-token") || "";
}

function headers() {
  const t = token();
  return t ? { Authorization: "Bearer " + t } : {};
}

function query() {
  const q = new URLSearchParams();
  if ($("f-status").value) q.append("status", $("f-status").value);
  if ($("f-tool").value) q.set("tool", $("f-tool").value);
  if ($("f-owner").value) q.set("owner", $("f-owner").value);
  if (state.cursor) q.set("cursor", state.cursor);
  q.set("limit", "50");
  return q;
}

function cell(tr, text, cls) {
  const td = document.createElement("td");
  td.textContent = text == null ? "-" : String(text);
  if (cls) td.className = cls;
  tr.appendChild(td);
  return td;
}

function render(snapshot) {
  const counts = $("counts");
  counts.replaceChildren();
  for (const [status, n] of Object.entries(snapshot.counts)) {
    const span = document.createElement("span");
    span.className = "count s-" + status;
    span.dataset.status = status;
    span.textContent = status + " " + n;
    counts.appendChild(span);
  }
  const body = document.querySelector("#tasks tbody");
  body.replaceChildren();
  for (const task of snapshot.tasks) {
    const tr = document.createElement("tr");
    tr.dataset.taskId = task.taskId;
    if (task.taskId === state.selected) tr.className = "selected";
    cell(tr, task.taskId, "id");
    cell(tr, task.status, "status s-" + task.status);
    cell(tr, task.tool);
    cell(tr, task.owner, "owner");
    cell(tr, task.createdAt.replace("T", " "), "time");
    cell(tr, task.updatedAt.replace("T", " "), "time");
    cell(tr, task.statusMessage || "");
    tr.addEventListener("click", () => select(task.taskId));
    body.appendChild(tr);
    const seen = state.versions.get(task.taskId);
    state.versions.set(task.taskId, task.version);
    if (task.taskId === state.selected && seen !== undefined && seen !== task.version) {
      select(task.taskId);
    }
  }
  $("next").disabled = !snapshot.nextCursor;
  $("next").dataset.cursor = snapshot.nextCursor || "";
  $("first").disabled = !state.cursor;
}

async function follow() {
  // fetch, not EventSource: the stream needs the Authorization header.
  if (state.abort) state.abort.abort();
  const abort = (state.abort = new AbortController());
  for (;;) {
    try {
      const response = await fetch("api/events?" + query(), { headers: headers(), signal: abort.signal });
      if (!response.ok) throw new Error((await response.json()).error || response.statusText);
      $("error").textContent = "";
      live(true);
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const message = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = message.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n");
          if (data) render(JSON.parse(data));
        }
      }
    } catch (error) {
      if (abort.signal.aborted) return;
      $("error").textContent = String(error.message || error);
    }
    live(false);
    await new Promise((resolve) => setTimeout(resolve, 2000)); // then connect again
    if (abort.signal.aborted) return;
  }
}

function live(on) {
  $("live").className = on ? "on" : "off";
  $("live").textContent = on ? "live" : "offline";
}

function field(dl, name, value) {
  const dt = document.createElement("dt");
  dt.textContent = name;
  const dd = document.createElement("dd");
  dd.textContent = value == null ? "-" : String(value);
  dd.dataset.field = name;
  dl.append(dt, dd);
}

async function select(taskId) {
  state.selected = taskId;
  for (const tr of document.querySelectorAll("#tasks tbody tr")) {
    tr.className = tr.dataset.taskId === taskId ? "selected" : "";
  }
  const response = await fetch("api/tasks/" + encodeURIComponent(taskId), { headers: headers() });
  const task = await response.json();
  if (!response.ok) {
    $("error").textContent = task.error;
    return;
  }
  $("detail").hidden = false;
  $("d-id").textContent = task.taskId;
  const dl = $("d-fields");
  dl.replaceChildren();
  for (const [name, key] of [["status", "status"], ["message", "statusMessage"], ["tool", "tool"],
      ["owner", "owner"], ["runner", "runner"], ["lease until", "leaseUntil"],
      ["created", "createdAt"], ["updated", "updatedAt"], ["expires", "expiresAt"]]) {
    field(dl, name, task[key]);
  }
  const history = $("d-history");
  history.replaceChildren();
  for (const step of task.history) {
    const li = document.createElement("li");
    li.textContent = step.at + "  " + step.status + " (" + step.what + ")";
    history.appendChild(li);
  }
  $("d-inputs").textContent = task.pendingInputs.length ? JSON.stringify(task.pendingInputs, null, 2) : "none";
  $("d-arguments").textContent = JSON.stringify(task.arguments, null, 2);
  $("d-result").textContent = task.error ? JSON.stringify({ error: task.error }, null, 2)
    : task.result ? JSON.stringify(task.result, null, 2) : "not yet";
  $("cancel").disabled = task.terminal;
}

async function cancel() {
  const taskId = state.selected;
  if (!taskId) return;
  const response = await fetch("api/tasks/" + encodeURIComponent(taskId) + "/cancel", {
    method: "POST", headers: headers(),
  });
  const answer = await response.json();
  $("error").textContent = response.ok ? "" : answer.error;
  await select(taskId);
}

async function start() {
  const fromHash = new URLSearchParams(location.hash.slice(1)).get("token");
  if (fromHash) {
    sessionStorage.setItem("taskapp-token", fromHash);
    history.replaceState(null, "", location.pathname); // the token leaves the address bar
  }
  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem("taskapp-token", $("token").value);
    $("token").value = "";
    follow();
  });
  $("filters").addEventListener("submit", (event) => {
    event.preventDefault();
    state.cursor = null;
    state.older = [];
    follow();
  });
  $("next").addEventListener("click", () => {
    state.older.push(state.cursor);
    state.cursor = $("next").dataset.cursor || null;
    follow();
  });
  $("first").addEventListener("click", () => {
    state.cursor = null;
    state.older = [];
    follow();
  });
  $("cancel").addEventListener("click", cancel);
  try {
    const info = await (await fetch("api/info", { headers: headers() })).json();
    $("store").textContent = info.store ? "store: " + info.store : "";
  } catch (error) {
    $("error").textContent = String(error);
  }
  follow();
}

start();

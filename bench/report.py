"""Turning bench/run.py's results into text: the console summary, RESULTS.md and the plot."""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Any

BEGIN = "<!-- bench/run.py: begin (generated; edit outside these markers) -->"
END = "<!-- bench/run.py: end -->"

ORDER = [
    "taskapp",
    "taskapp-loginfo",
    "taskapp-asyncio",
    "whatif-nostatus",
    "whatif-coalesce",
    "whatif-logcache",
    "whatif-all",
    "sdk",
    "fastmcp",
    "stub+status",
    "stub",
]
NAMES = {
    "taskapp": "taskapp",
    "taskapp-loginfo": "taskapp --log-level info",
    "taskapp-asyncio": "taskapp --loop asyncio",
    "whatif-nostatus": "taskapp what-if: no terminal status notification",
    "whatif-coalesce": "taskapp what-if: coalesced writes",
    "whatif-logcache": "taskapp what-if: cached loggers",
    "whatif-all": "taskapp what-if: all three",
    "sdk": "SDK 1.30 low-level",
    "fastmcp": "FastMCP 3",
    "stub+status": "stub + status notification",
    "stub": "stub (limit)",
}
MODES = ("1", "32", "256")
MODE_NAMES = {"1": "sequential", "32": "32 in flight", "256": "256 in flight"}


def _sorted(labels: list[str]) -> list[str]:
    def key(label: str) -> tuple[int, int]:
        server, transport = label.split("/")
        rank = ORDER.index(server) if server in ORDER else len(ORDER)
        return (0 if transport == "stdio" else 1, rank)

    return sorted(labels, key=key)


def _name(label: str) -> str:
    server, transport = label.split("/")
    return f"{NAMES.get(server, server)} / {transport}"


def _rate(cell: dict[str, Any] | None) -> str:
    return f"{cell['per_second']:,.0f}" if cell else "-"


def _ms(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.2f}" if value < 10 else f"{value:.0f}"


def ratio(results: dict[str, Any], client: str, a: str, b: str, mode: str) -> float | None:
    cells = results.get("roundtrips", {}).get(client, {})
    x, y = cells.get(a, {}).get(mode), cells.get(b, {}).get(mode)
    if not x or not y or not y["per_second"]:
        return None
    value: float = x["per_second"] / y["per_second"]
    return value


def _fmt_ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


# -- targets --------------------------------------------------------------------------


def targets(results: dict[str, Any]) -> list[tuple[str, str, bool | None]]:
    """(target, what was measured, pass?) for each target of issue 7."""
    rows: list[tuple[str, str, bool | None]] = []
    for mode in ("1", "32"):
        value = ratio(results, "mcp", "taskapp/stdio", "sdk/stdio", mode)
        rows.append(
            (
                f"throughput >= 5x the SDK server, stdio, {MODE_NAMES[mode]}",
                _fmt_ratio(value),
                None if value is None else value >= 5,
            )
        )
    for stub in ("stub/stdio", "stub+status/stdio"):
        value = ratio(results, "mcp", stub, "sdk/stdio", "1")
        if value is not None:
            what = "the stub" if stub == "stub/stdio" else "the stub with the status notification"
            rows.append(
                (
                    f"(the limit) {what} vs the SDK server, stdio, sequential",
                    _fmt_ratio(value),
                    None,
                )
            )
    for mode in ("1", "32"):
        value = ratio(results, "mcp", "taskapp/stdio", "stub/stdio", mode)
        rows.append(
            (
                f"throughput >= 70% of the stub, stdio, {MODE_NAMES[mode]}",
                "-" if value is None else f"{value:.0%}",
                None if value is None else value >= 0.7,
            )
        )
    for mode in ("1", "32"):
        value = ratio(results, "mcp", "taskapp/http", "sdk/http", mode)
        if value is not None:
            rows.append(
                (
                    f"(for information) throughput vs the SDK server, HTTP, {MODE_NAMES[mode]}",
                    _fmt_ratio(value),
                    None,
                )
            )
    cell = results.get("roundtrips", {}).get("mcp", {}).get("taskapp/stdio", {}).get("32")
    if cell:
        rows.append(
            (
                "p99 < 5 ms at 32 in flight, stdio (official client)",
                f"{cell['p99_ms']:.2f} ms",
                cell["p99_ms"] < 5,
            )
        )
    stub = results.get("roundtrips", {}).get("mcp", {}).get("stub/stdio", {}).get("32")
    if stub:
        rows.append(
            (
                "(the limit) the do-nothing stub's own p99 at 32 in flight, same client",
                f"{stub['p99_ms']:.2f} ms",
                None,
            )
        )
    lean = results.get("roundtrips", {}).get("lean", {}).get("taskapp/stdio", {}).get("32")
    if lean:
        rows.append(
            (
                "(for information) p99 at 32 in flight, stdio, taskapp.Client",
                f"{lean['p99_ms']:.2f} ms",
                None,
            )
        )
    for step, store in (("list", "MemoryStore"), ("list_sqlite", "SQLiteStore")):
        pages = results.get("inproc", {}).get(step, {}).get("100000")
        if not pages:
            continue
        worst = max(pages["engine_first_us"], pages["engine_middle_us"], pages["engine_last_us"])
        rows.append(
            (
                f"tasks/list page < 1 ms at 10^5 tasks, {store} (list_tasks, 100 per page)",
                f"{worst:.0f} us",
                worst < 1000,
            )
        )
        rows.append(
            (
                "same, through the tasks/list handler incl. JSON encoding",
                f"{pages['handler_json_middle_us']:.0f} us",
                pages["handler_json_middle_us"] < 1000,
            )
        )
    memory = results.get("inproc", {}).get("memory")
    if memory:
        rows.append(
            (
                "< 2 KB per finished task in MemoryStore beyond its result",
                f"{memory['beyond_result_bytes_per_task']:,} B",
                memory["beyond_result_bytes_per_task"] < 2048,
            )
        )
    return rows


def _verdict(ok: bool | None) -> str:
    return "" if ok is None else ("PASS" if ok else "FAIL")


# -- console --------------------------------------------------------------------------


def console(results: dict[str, Any]) -> str:
    lines: list[str] = []
    trips = results.get("roundtrips", {})
    for client, title in (("mcp", "official client (mcp 1.30)"), ("lean", "taskapp.Client")):
        cells = trips.get(client, {})
        if not cells:
            continue
        lines.append(f"round trips/s, {title}: seq | 32 | 256   (p99 ms)")
        for label in _sorted(list(cells)):
            row = cells[label]
            parts = [
                f"{_rate(row.get(m)):>7} ({_ms(row[m]['p99_ms']) if row.get(m) else '-':>5})"
                for m in MODES
            ]
            get = row.get("tasks_get")
            get_text = f"  tasks/get p50 {_ms(get['p50_ms'])} ms" if get else ""
            lines.append(f"  {_name(label):38} {' | '.join(parts)}{get_text}")
        labels = _sorted(list(cells))
        for transport in ("stdio", "http"):
            group = [label for label in labels if label.endswith("/" + transport)]
            for a, b in itertools.combinations(group, 2):
                values = [_fmt_ratio(ratio(results, client, a, b, m)) for m in MODES]
                lines.append(f"    {a} / {b}: " + " | ".join(values))
    for key, value in trips.get("errors", {}).items():
        lines.append(f"  error: {key}: {value}")
    rows = targets(results)
    if rows:
        lines.append("targets:")
        for name, measured, ok in rows:
            lines.append(f"  {_verdict(ok) or '    ':4}  {name}: {measured}")
    return "\n".join(lines)


# -- markdown -------------------------------------------------------------------------


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    return out


def markdown(results: dict[str, Any]) -> str:
    m = results["machine"]
    s = results["settings"]
    md: list[str] = [
        f"## Run of {m['date']} (`python bench/run.py{_flags(s)}`)",
        "",
    ]
    packages = ", ".join(f"{k} {v}" for k, v in m["packages"].items())
    fm = results.get("fastmcp", {})
    fm_text = (
        ", ".join(f"{k} {v}" for k, v in fm.get("versions", {}).items())
        if fm.get("status") == "ok"
        else f"{fm.get('status')}: {fm.get('reason', '')}"
    )
    md += _table(
        ["machine", ""],
        [
            ["cores (nproc)", str(m["nproc"])],
            ["CPU", m["cpu"]],
            ["memory", f"{m['memory_gib']} GiB"],
            ["Python", f"{m['python']} ({m['platform']})"],
            ["packages", packages],
            ["FastMCP venv", fm_text],
            ["taskapp commit", m["git"]],
            [
                "load average (1/5/15 min) at start / end",
                f"{m['loadavg_start']} / {m.get('loadavg_end', '?')}",
            ],
            ["settings", _settings(s) + f"; whole run {m.get('wall_s', '?')} s"],
        ],
    )
    md.append("")
    trips = results.get("roundtrips", {})
    for client, title in (
        ("mcp", "Task round trips, official client (`mcp==1.30.0` ClientSession)"),
        ("lean", "Task round trips, taskapp's own client (`taskapp.Client`)"),
    ):
        cells = trips.get(client, {})
        if not cells:
            continue
        md += [f"### {title}", ""]
        md.append(
            "A round trip: task-augmented `tools/call` of `noop`, then `tasks/result`. "
            "Round trips per second; latency p50 / p99 in ms; `tasks/get` on a finished task."
        )
        md.append("")
        rows = []
        for label in _sorted(list(cells)):
            row = cells[label]
            line = [_name(label)]
            for mode in MODES:
                c = row.get(mode)
                line.append(f"{_rate(c)} ({_ms(c['p50_ms'])} / {_ms(c['p99_ms'])})" if c else "-")
            get = row.get("tasks_get")
            line.append(f"{_ms(get['p50_ms'])} / {_ms(get['p99_ms'])}" if get else "-")
            rows.append(line)
        md += _table(
            ["server / transport", "sequential", "32 in flight", "256 in flight", "tasks/get ms"],
            rows,
        )
        md.append("")
        polls = [
            f"{_name(label)}: {row[mode]['polls']} tasks/get polls at {MODE_NAMES[mode]}"
            for label, row in cells.items()
            for mode in MODES
            if row.get(mode, {}).get("polls")
        ]
        if polls:
            md += [
                "Polls needed because `tasks/result` did not block (the client then polls "
                "`tasks/get` back to back): " + "; ".join(polls) + ".",
                "",
            ]
        if any(label.startswith("whatif") for label in cells):
            md += [
                "What-if rows: taskapp patched at import by `bench/servers/taskapp_whatif.py` "
                "(not a change to taskapp) to size a suggested change: no "
                "`notifications/tasks/status` for ended tasks, one write for all queued "
                "messages, cached structlog loggers, and all three.",
                "",
            ]
        md += [f"Ratios of throughput (first / second), {title.split(', ')[1]}:", ""]
        ratio_rows = []
        labels = _sorted(list(cells))
        for transport in ("stdio", "http"):
            group = [label for label in labels if label.endswith("/" + transport)]
            for a, b in itertools.combinations(group, 2):
                ratio_rows.append(
                    [f"{_name(a)} vs {_name(b)}"]
                    + [_fmt_ratio(ratio(results, client, a, b, mode)) for mode in MODES]
                )
        md += _table(["pair", "sequential", "32 in flight", "256 in flight"], ratio_rows)
        md.append("")
    if trips.get("errors"):
        md += ["Failures: " + "; ".join(f"{k}: {v}" for k, v in trips["errors"].items()), ""]
    rows = targets(results)
    if rows:
        md += ["### Targets of issue 7", ""]
        md += _table(["target", "measured", "verdict"], [[n, v, _verdict(ok)] for n, v, ok in rows])
        md.append("")
    md += _inproc_markdown(results.get("inproc", {}))
    md += _profile_markdown(results.get("profile", {}))
    return "\n".join(md)


def _flags(settings: dict[str, Any]) -> str:
    return "".join(f" --{flag}" for flag in ("quick", "whatif") if settings.get(flag))


def _settings(settings: dict[str, Any]) -> str:
    parts = []
    for transport, plan in settings.get("plans", {}).items():
        cells = ", ".join(
            f"{mode}: {plan['rounds'][mode]} x {plan['burst'][mode]} s" for mode in plan["rounds"]
        )
        parts.append(f"{transport} bursts per server (in flight: rounds x seconds) {cells}")
    return "; ".join(parts)


def _inproc_markdown(inproc: dict[str, Any]) -> list[str]:
    md: list[str] = []
    anatomy = inproc.get("anatomy")
    if anatomy:
        md += ["### One task round trip inside the server (in-process, sequential)", ""]
        md += _table(
            ["server time per round trip", "event-loop iterations", "asyncio tasks started",
             "anyio cancel scopes", "anyio task groups", "messages written"],
            [[f"{anatomy['server_us_per_round_trip']:.0f} us", str(anatomy["loop_iterations"]),
              str(anatomy["tasks"]), str(anatomy["cancel_scopes"]),
              str(anatomy["task_groups"]), str(anatomy["messages_written"])]],
        )  # fmt: skip
        md += [
            "",
            "A real `ServerSession` served over a channel whose client costs nothing "
            "(no pipe, no parsing beyond finding its answers): a task-augmented `tools/call` "
            "of `noop`, then `tasks/result`, one after the other "
            f"(best of 5 x {anatomy['round_trips']:,}). Counts per round trip.",
            "",
        ]
    ctx = inproc.get("ctx")
    if ctx:
        md += ["### Cost of the context calls (in-process, microseconds per call)", ""]
        md += _table(
            ["call", "engine only (no session)", "with a session (notification encoded and sent)"],
            [
                [kind, f"{ctx[f'engine_{kind}_us']:.2f}", f"{ctx[f'session_{kind}_us']:.2f}"]
                for kind in ("update_status", "report_progress", "checkpoint")
            ],
        )
        md += [
            "",
            f"A tool calls each {ctx['n']:,} times in a loop (best of 3). `checkpoint` is the "
            "floor: one bare `anyio.lowlevel.checkpoint()` per call. With a session the "
            "client is a channel that drops what it gets, so only the server's cost counts.",
            "",
        ]
    memory = inproc.get("memory")
    if memory:
        md += ["### Memory per finished task (MemoryStore, in-process)", ""]
        md += _table(
            [
                "tasks",
                "traced per task",
                "its result (ToolOutcome of 'ok')",
                "beyond the result",
                "RSS growth per task",
            ],
            [
                [
                    f"{memory['tasks']:,}",
                    f"{memory['traced_bytes_per_task']:,} B",
                    f"{memory['result_bytes_per_task']:,} B",
                    f"{memory['beyond_result_bytes_per_task']:,} B",
                    f"{memory['rss_bytes_per_task']:,} B",
                ]
            ],
        )
        md += [
            "",
            "tracemalloc: bytes still allocated after the tasks finished and garbage was "
            "collected (record, indexes, expiry heap), divided by the number of tasks.",
            "",
        ]
    md += _list_markdown(inproc.get("list"), "MemoryStore")
    md += _list_markdown(inproc.get("list_sqlite"), "SQLiteStore")
    sleepers = inproc.get("sleepers")
    if sleepers:
        lag = sleepers["lag"]
        md += [f"### {sleepers['tasks']:,} tasks sleeping at once (one process, MemoryStore)", ""]
        md += _table(
            ["measure", "value"],
            [
                ["running at once", f"{sleepers['running_at_once']:,}"],
                ["time to create and start them all", f"{sleepers['create_s']:.2f} s"],
                ["RSS per sleeping task", f"{sleepers['rss_bytes_per_sleeping_task']:,} B"],
                ["event-loop lag while creating (p50 / p99 / max)", _lag(lag["create"])],
                ["event-loop lag while they sleep", _lag(lag["sleep"])],
                ["event-loop lag while they all wake and finish", _lag(lag["wake"])],
                [
                    "time for all to finish after the first wakes",
                    f"{sleepers['drain_after_wake_s']:.2f} s",
                ],
                [
                    "garbage-collector passes (max pause; gen-2 pauses)",
                    f"{sleepers['gc_passes']} ({sleepers['gc_max_ms']} ms; "
                    f"{sleepers['gc_gen2_ms']} ms)",
                ],
            ],
        )
        md += ["", "Lag: how late a 5 ms `anyio.sleep` ticker wakes.", ""]
    return md


def _list_markdown(pages: dict[str, Any] | None, store: str) -> list[str]:
    if not pages:
        return []
    md = [f"### tasks/list page time ({store}, 100 per page, median, microseconds)", ""]
    rows = []
    for count, row in pages.items():
        if not isinstance(row, dict):
            continue
        rows.append(
            [
                f"{int(count):,}",
                f"{row['engine_first_us']:.0f}",
                f"{row['engine_middle_us']:.0f}",
                f"{row['engine_last_us']:.0f}",
                f"{row['handler_middle_us']:.0f}",
                f"{row['handler_json_middle_us']:.0f}",
                f"{row['orphans_scan_ms']:.1f} ms",
            ]
        )
    md += _table(
        [
            "stored tasks",
            "engine.list_tasks first page",
            "middle page",
            "last page",
            "tasks/list handler (middle)",
            "handler + JSON encode",
            "lease upkeep scan (orphans)",
        ],
        rows,
    )
    md += [
        "",
        "The lease upkeep scan is what the engine runs every `lease_s / 3` seconds "
        "(`store.orphans`) for a store other processes share"
        + (
            "; a MemoryStore is never shared, so it is not run on one (measured for scale)."
            if store == "MemoryStore"
            else "; SQLite runs it in the store's worker thread, on an index of live tasks."
        ),
        "",
    ]
    return md


def _lag(summary: dict[str, Any]) -> str:
    if not summary.get("ticks"):
        return "-"
    return f"{summary['p50_ms']} / {summary['p99_ms']} / {summary['max_ms']} ms"


def _profile_markdown(prof: dict[str, Any]) -> list[str]:
    if not prof:
        return []
    if "skipped" in prof:
        return ["### Profile", "", f"Skipped: {prof['skipped']}", ""]
    md = [
        "### Profile of taskapp's stdio server (py-spy, official client)",
        "",
        f"py-spy at {prof['rate']} Hz for {prof['seconds']:.0f} s per load, on the server "
        "process and on the client process. Percentages are of the samples py-spy kept as "
        "active (it drops most of a thread's sleep in epoll); 'busy' is those samples over "
        "all ticks. "
        "A part counts a sample when it is anywhere on the stack, so parts overlap. "
        "Flame graph of the server at 32 in flight: `bench/profile.svg`.",
        "",
    ]
    rows = []
    s1, s32 = prof.get("server_1", {}), prof.get("server_32", {})
    c1, c32 = prof.get("client_1", {}), prof.get("client_32", {})
    md += [
        f"Server busy: {s1.get('cpu_busy_pct')}% sequential, {s32.get('cpu_busy_pct')}% at 32 "
        f"in flight. Client busy: {c1.get('cpu_busy_pct')}% / {c32.get('cpu_busy_pct')}%.",
        "",
    ]
    parts32 = dict(s32.get("parts", []))
    for name, value in s1.get("parts", []):
        rows.append([name, f"{value}%", f"{parts32.get(name, 0)}%"])
    md += _table(["server: part (inclusive)", "sequential", "32 in flight"], rows)
    md += ["", "Own time by package (the code running when sampled), server:", ""]
    pk32 = dict(s32.get("packages", []))
    md += _table(
        ["package", "sequential", "32 in flight"],
        [[n, f"{v}%", f"{pk32.get(n, 0)}%"] for n, v in s1.get("packages", [])],
    )
    md += ["", "Top functions by own time (server, 32 in flight):", ""]
    md += _table(
        ["function", "% of busy samples"], [[n, f"{v}%"] for n, v in s32.get("self", [])[:12]]
    )
    md += ["", "Client (mcp 1.30 ClientSession over stdio):", ""]
    cparts32 = dict(c32.get("parts", []))
    md += _table(
        ["client: part (inclusive)", "sequential", "32 in flight"],
        [[n, f"{v}%", f"{cparts32.get(n, 0)}%"] for n, v in c1.get("parts", [])],
    )
    md += ["", "Top client functions by own time (32 in flight):", ""]
    md += _table(
        ["function", "% of busy samples"], [[n, f"{v}%"] for n, v in c32.get("self", [])[:10]]
    )
    info = prof.get("server_loginfo_32")
    if info:
        logging_share = dict(info.get("parts", [])).get("logging (structlog)", 0)
        quiet_share = dict(s32.get("parts", [])).get("logging (structlog)", 0)
        md += [
            "",
            f"Logging: structlog takes {logging_share}% of the server's busy samples at "
            f"`--log-level info` (32 in flight; busy {info.get('cpu_busy_pct')}%), and "
            f"{quiet_share}% at `--log-level warning`, where the calls are filtered out.",
        ]
    http = prof.get("server_http_1")
    if http:
        md += ["", f"Streamable HTTP, sequential (server busy {http.get('cpu_busy_pct')}%):", ""]
        md += _table(
            ["server: part (inclusive)", "% of busy samples"],
            [[n, f"{v}%"] for n, v in http.get("parts", [])[:12]],
        )
        md += [""]
        md += _table(
            ["own time by package (HTTP, sequential)", "% of busy samples"],
            [[n, f"{v}%"] for n, v in http.get("packages", [])],
        )
    md.append("")
    return md


def write_markdown(results: dict[str, Any], path: Path) -> None:
    """Replace our block in RESULTS.md (or add it), leaving everything else as it is."""
    block = f"{BEGIN}\n{markdown(results)}\n{END}"
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    if BEGIN in text and END in text:
        head, _, rest = text.partition(BEGIN)
        _, _, tail = rest.partition(END)
        text = head + block + tail
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text)


# -- plot -------------------------------------------------------------------------------


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    trips = results.get("roundtrips", {})
    panels = [
        ("mcp", "stdio", "stdio, official client (mcp 1.30)"),
        ("mcp", "http", "Streamable HTTP, official client"),
        ("lean", "stdio", "stdio, taskapp.Client"),
        ("lean", "http", "Streamable HTTP, taskapp.Client"),
    ]
    panels = [p for p in panels if any(k.endswith("/" + p[1]) for k in trips.get(p[0], {}))]
    if not panels:
        return
    cols = 2 if len(panels) > 1 else 1
    rows = math.ceil(len(panels) / cols)
    fig, grid = plt.subplots(rows, cols, figsize=(7 * cols, 5 * rows), squeeze=False)
    axes = [ax for row in grid for ax in row]
    for ax in axes[len(panels) :]:
        ax.set_visible(False)
    colours = {
        "taskapp": "#1f77b4",
        "taskapp-loginfo": "#aec7e8",
        "taskapp-asyncio": "#17becf",
        "sdk": "#d62728",
        "fastmcp": "#9467bd",
        "stub+status": "#98df8a",
        "stub": "#2ca02c",
    }
    top = max(
        (
            c.get("per_second", 0)
            for row in trips.values()
            if isinstance(row, dict)
            for cells in row.values()
            if isinstance(cells, dict)
            for c in cells.values()
            if isinstance(c, dict)
        ),
        default=10,
    )
    handles: dict[str, Any] = {}
    for ax, (client, transport, title) in zip(axes, panels, strict=False):
        labels = _sorted([k for k in trips[client] if k.endswith("/" + transport)])
        width = 0.8 / max(1, len(labels))
        for i, label in enumerate(labels):
            server = label.split("/")[0]
            values = [trips[client][label].get(m, {}).get("per_second", 0) for m in MODES]
            xs = [j + (i - (len(labels) - 1) / 2) * width for j in range(len(MODES))]
            bars = ax.bar(
                xs,
                values,
                width,
                label=NAMES.get(server, server),
                color=colours.get(server, "#7f7f7f"),
            )
            handles.setdefault(NAMES.get(server, server), bars)
            for bar, value in zip(bars, values, strict=True):
                if value:
                    ax.annotate(
                        f"{value:,.0f}",
                        (bar.get_x() + bar.get_width() / 2, value),
                        ha="center",
                        va="bottom",
                        fontsize=7,
                        rotation=90,
                        xytext=(0, 2),
                        textcoords="offset points",
                    )
        ax.set_xticks(range(len(MODES)), [MODE_NAMES[m] for m in MODES])
        ax.set_yscale("log")
        ax.set_ylabel("task round trips per second (log)")
        ax.set_title(title)
        ax.grid(axis="y", alpha=0.3)
        ax.set_ylim(5, top * 4)  # one scale for every panel
    m = results["machine"]
    fig.suptitle(
        f"Task round trips (tools/call as task + tasks/result, no-op tool) - "
        f"{m['nproc']} cores, Python {m['python']}, {m['date']}"
    )
    fig.legend(
        list(handles.values()), list(handles), loc="lower center", ncol=len(handles), fontsize=9
    )
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)

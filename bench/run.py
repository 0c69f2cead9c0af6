"""The benchmark suite of issue 7, in one command.

    python bench/run.py               # everything (~6 minutes on 2 cores)
    python bench/run.py --quick       # shorter windows, fewer tasks (~3 minutes)
    python bench/run.py --only taskapp,stub      # some servers (or: lean, inproc, profile)
    python bench/run.py --whatif      # also taskapp with suggested changes patched in
    python bench/run.py --http2026    # MCP 2026-07-28 over HTTP vs FastMCP 4 (modern.py)

A full run (no --only) writes bench/results.json, bench/results.png and its own
block of bench/RESULTS.md (between the `bench/run.py` markers; the rest of the
file is left alone). Ratios between servers measured in the same run are the
result: absolute numbers depend on the machine and on what else runs on it.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import importlib.metadata
import json
import logging
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import report
import roundtrip as rt

from taskapp._logging import configure_logging

FASTMCP_SPEC = "fastmcp[tasks]>=3,<4"
MCP_MODES = (1, 32, 256)


def say(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


# -- the machine -----------------------------------------------------------------


def _versions(names: list[str]) -> dict[str, str]:
    found = {}
    for name in names:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = "-"
    return found


def machine() -> dict[str, Any]:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem_kb = next(
            int(line.split()[1])
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        )
    except (OSError, StopIteration):
        mem_kb = 0
    git = subprocess.run(
        ["git", "describe", "--always", "--dirty"], cwd=rt.REPO, capture_output=True, text=True
    ).stdout.strip()
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "git": git,
        "packages": _versions(
            [
                "taskapp",
                "mcp",
                "anyio",
                "pydantic",
                "pydantic-core",
                "structlog",
                "starlette",
                "uvicorn",
                "httpx",
                "uvloop",
            ]
        ),
        "loadavg_start": [round(x, 2) for x in os.getloadavg()],
    }


# -- FastMCP, in a venv of its own --------------------------------------------------------


def ensure_fastmcp(skip: bool) -> tuple[Path | None, dict[str, Any]]:
    """Install FastMCP 3.x (with its task extra) into bench/.venvs/fastmcp if missing."""
    if skip:
        return None, {"status": "skipped (--no-fastmcp)"}
    venv = rt.FASTMCP_VENV
    python = venv / "bin" / "python"
    probe = [
        str(python),
        "-c",
        "import json, importlib.metadata as m, fastmcp, docket; "
        "print(json.dumps({n: m.version(n) for n in ('fastmcp', 'mcp', 'pydocket')}))",
    ]
    if python.exists():
        done = subprocess.run(probe, capture_output=True, text=True)
        if done.returncode == 0:
            return python, {"status": "ok", "versions": json.loads(done.stdout)}
    say(f"installing {FASTMCP_SPEC} into {venv} (once) ...")
    steps = [
        [sys.executable, "-m", "venv", str(venv)],
        [str(python), "-m", "pip", "install", "--quiet", FASTMCP_SPEC],
    ]
    for step in steps:
        try:
            done = subprocess.run(step, capture_output=True, text=True, timeout=540)
        except subprocess.TimeoutExpired:
            return None, {"status": "not installed", "reason": f"{' '.join(step)} timed out"}
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            return None, {"status": "not installed", "reason": " / ".join(tail)}
    done = subprocess.run(probe, capture_output=True, text=True)
    if done.returncode != 0:
        return None, {"status": "not importable", "reason": done.stderr.strip()[-300:]}
    return python, {"status": "ok", "versions": json.loads(done.stdout)}


# -- round trips --------------------------------------------------------------------


def _modes(target: rt.Target) -> tuple[int, ...]:
    if target.server == "taskapp@base":
        return (1, 32, 256)
    if target.server in ("taskapp-loginfo", "taskapp-asyncio", "stub+status") or (
        target.server.startswith("whatif")
    ):
        return (1, 32)
    return MCP_MODES


def plans(quick: bool, rounds: int | None) -> dict[str, rt.Plan]:
    """Bursts per server and mode, for stdio and for HTTP (seconds per round trip at 256)."""
    n = rounds or (3 if quick else 8)
    burst = 0.3 if quick else 0.4
    stdio = rt.Plan(
        rounds={1: n, 32: n, 256: max(1, n // 3)},
        burst={1: burst, 32: burst, 256: 2 * burst},
        warmup={1: 0.05, 32: 0.1, 256: 0.2},
        get_rounds=max(2, n * 3 // 4),
        get_burst=0.25,
    )
    http = rt.Plan(
        rounds={1: max(2, n // 2), 32: max(2, n // 2), 256: 1},
        burst={1: 0.5, 32: 0.5, 256: 1.0},
        warmup={1: 0.1, 32: 0.2, 256: 0.3},
        get_rounds=2,
        get_burst=0.25,
    )
    return {"stdio": stdio, "http": http}


async def roundtrips(
    targets: list[rt.Target], lean: list[rt.Target], args: argparse.Namespace
) -> dict[str, Any]:
    out: dict[str, Any] = {"mcp": {}, "lean": {}, "errors": {}}
    plan = plans(args.quick, args.rounds)
    for transport in ("stdio", "http"):
        for client, group in (("mcp", targets), ("lean", lean)):
            chosen = [t for t in group if t.transport == transport]
            if not chosen:
                continue
            factory = rt.mcp_driver if client == "mcp" else rt.lean_driver
            title = "official client" if client == "mcp" else "taskapp.Client"
            say(f"{transport}, {title}: {', '.join(t.server for t in chosen)}")
            t0 = time.perf_counter()
            errors: dict[str, str] = {}
            out[client].update(
                await rt.interleaved(factory, chosen, _modes, plan[transport], errors, say)
            )
            out["errors"].update({f"{client} {k}": v for k, v in errors.items()})
            say(f"  ({time.perf_counter() - t0:.0f} s)")
    return out


# -- in-process and profile steps (separate processes: clean memory, clean profile) ----


def inproc(quick: bool) -> dict[str, Any]:
    command = [sys.executable, str(rt.BENCH / "inproc.py"), "--json"] + (
        ["--quick"] if quick else []
    )
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=rt.REPO)
    if done.returncode != 0:
        raise RuntimeError(f"inproc.py failed: {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def profile(seconds: float) -> dict[str, Any]:
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(py_spy).exists():
        return {"skipped": "py-spy is not installed (pip install -r bench/requirements.txt)"}
    command = [sys.executable, str(rt.BENCH / "profile_taskapp.py"), "--seconds", str(seconds)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=rt.BENCH)
    if done.returncode != 0:
        return {"skipped": f"profile failed: {done.stderr.strip()[-500:]}"}
    result: dict[str, Any] = json.loads(done.stdout)
    return result


# -- main ---------------------------------------------------------------------------


def main() -> None:
    if "--http2026" in sys.argv[1:]:  # MCP 2026-07-28 over HTTP vs FastMCP 4: modern.py
        rest = [arg for arg in sys.argv[1:] if arg != "--http2026"]
        os.execv(sys.executable, [sys.executable, str(rt.BENCH / "modern.py"), *rest])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer, shorter bursts; fewer tasks")
    parser.add_argument(
        "--only",
        help="comma list of servers (stub, stub+status, sdk, taskapp, taskapp-loginfo, "
        "taskapp-asyncio, "
        "fastmcp, or a label like taskapp/http) and steps (lean, inproc, profile)",
    )
    parser.add_argument(
        "--rounds", type=int, help="bursts per server and mode (default 8; quick 3)"
    )
    parser.add_argument("--no-fastmcp", action="store_true", help="do not install or run FastMCP")
    parser.add_argument(
        "--whatif",
        action="store_true",
        help="also taskapp patched as servers/taskapp_whatif.py says (stdio, official client)",
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        metavar="DIR",
        help="also taskapp from this checkout (git worktree add DIR REV), stdio, official "
        "client, in the same turns as taskapp: a change measured against its parent",
    )
    parser.add_argument("--no-profile", action="store_true", help="skip the py-spy profile")
    parser.add_argument("--write", action="store_true", help="write results even with --only")
    args = parser.parse_args()
    only = {name.strip() for name in args.only.split(",")} if args.only else None
    logging.getLogger("mcp").setLevel(logging.CRITICAL)  # transport chatter at shutdown
    configure_logging("warning")  # taskapp.Client's own logs (structlog's default is stdout)

    started = time.perf_counter()
    results: dict[str, Any] = {"machine": machine()}
    results["settings"] = {
        "quick": args.quick,
        "whatif": args.whatif,
        "plans": {k: dataclasses.asdict(v) for k, v in plans(args.quick, args.rounds).items()},
        "modes": list(MCP_MODES),
    }
    wants_fastmcp = only is None or "fastmcp" in only or any("fastmcp/" in n for n in only)
    fastmcp_python, results["fastmcp"] = ensure_fastmcp(args.no_fastmcp or not wants_fastmcp)
    if fastmcp_python is None and wants_fastmcp and not args.no_fastmcp:
        say(f"FastMCP: {results['fastmcp']}")

    all_targets = rt.targets(fastmcp_python)
    targets = [t for t in all_targets if only is None or t.server in only or t.label in only]
    if args.whatif:  # compared with taskapp and the stubs in the same turns
        targets += rt.whatif_targets()
        names = {t.server for t in targets}
        targets += [
            t
            for t in all_targets
            if t.label in ("taskapp/stdio", "stub/stdio", "stub+status/stdio")
            and t.server not in names
        ]
    if args.baseline is not None:
        if not (args.baseline / "taskapp" / "__init__.py").is_file():
            parser.error(f"--baseline {args.baseline}: no taskapp package there")
        if only is None or "taskapp" in only or "taskapp/stdio" in only:
            targets.append(rt.baseline_target(args.baseline.resolve()))
    lean_labels = ("stub/stdio", "sdk/stdio", "taskapp/stdio", "taskapp/http")
    lean = [
        t
        for t in all_targets
        if t.label in lean_labels and (only is None or "lean" in only or t.server in only)
    ]
    if args.baseline is not None and (only is None or "lean" in only):
        lean.append(rt.baseline_target(args.baseline.resolve()))
    if targets or lean:
        say(f"round trips: {len(targets)} servers (official client), {len(lean)} (lean client)")
        results["roundtrips"] = anyio.run(roundtrips, targets, lean, args)
    if only is None or "inproc" in only:
        say("in-process: ctx costs, memory per task, tasks/list pages, 10,000 sleepers ...")
        results["inproc"] = inproc(args.quick)
    if not args.no_profile and (only is None or "profile" in only):
        say("profile: py-spy on taskapp's stdio server under the official client ...")
        results["profile"] = profile(3.0 if args.quick else 4.0)
    results["machine"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    results["machine"]["wall_s"] = round(time.perf_counter() - started)

    say()
    say(report.console(results))
    if only is None or args.write:
        (rt.BENCH / "results.json").write_text(json.dumps(results, indent=1) + "\n")
        report.write_markdown(results, rt.BENCH / "RESULTS.md")
        report.plot(results, rt.BENCH / "results.png")
        say("wrote bench/results.json, bench/results.png and bench/RESULTS.md")


if __name__ == "__main__":
    main()

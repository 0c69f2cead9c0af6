"""The dashboard's API and its guards, through an in-memory ASGI client; its command line.

The browser test (tests/test_dashboard_browser.py) shows the page working; these show
what it refuses: a foreign Host (DNS rebinding), a foreign Origin, a cancel without the
token, a non-loopback bind without one, a store that cannot list across owners.
"""

from __future__ import annotations

import time
from pathlib import Path

import anyio
import httpx
import pytest

from examples.custom_store import DictStore
from taskapp import cli
from taskapp.dashboard import DashboardConfig, dashboard_app
from taskapp.dashboard.feed import snapshots
from taskapp.records import TaskStatus
from taskapp.stores import CannotListAllOwnersError, MemoryStore, TaskFilter
from taskapp.stores.sqlite import SQLiteStore
from taskapp.testing import NOW, make_record

pytestmark = pytest.mark.anyio

TOKEN = "s3cret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


async def _client(store: MemoryStore | SQLiteStore, token: str | None) -> httpx.AsyncClient:
    app = dashboard_app(store, DashboardConfig(token=token))
    transport = httpx.ASGITransport(app=app)
    return httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8400")


@pytest.fixture
async def store() -> MemoryStore:
    store = MemoryStore()
    await store.create(make_record("t-old", owner="principal:alice", created_at=NOW))
    await store.create(make_record("t-new", owner="session:abc", created_at=NOW + 1))
    return store


async def test_the_page_and_its_headers(store: MemoryStore) -> None:
    async with await _client(store, None) as client:
        page = await client.get("/")
        script = await client.get("/dashboard.js")
    assert page.status_code == 200
    assert "<title>taskapp dashboard</title>" in page.text
    assert page.headers["content-security-policy"] == "default-src 'self'; frame-ancestors 'none'"
    assert page.headers["x-frame-options"] == "DENY"
    assert script.headers["content-type"].startswith("text/javascript")
    assert "innerHTML" not in script.text  # data is written as text only


async def test_tasks_newest_first_and_a_tasks_detail(store: MemoryStore) -> None:
    await store.push_input("t-new", "q1", {"method": "elicitation/create", "params": {}})
    async with await _client(store, None) as client:
        listing = (await client.get("/api/tasks?limit=1")).json()
        assert [t["taskId"] for t in listing["tasks"]] == ["t-new"]
        older = await client.get(f"/api/tasks?limit=1&cursor={listing['nextCursor']}")
        detail = (await client.get("/api/tasks/t-new")).json()
        missing = await client.get("/api/tasks/nope")
        bad = await client.get("/api/tasks?status=sleeping")
    assert [t["taskId"] for t in older.json()["tasks"]] == ["t-old"]
    assert detail["owner"] == "session:abc"
    assert detail["arguments"] == {"a": 1}
    assert detail["pendingInputs"] == [{"key": "q1", "method": "elicitation/create", "params": {}}]
    assert [step["what"] for step in detail["history"]] == ["created", "last change (change 0)"]
    assert missing.status_code == 404
    assert bad.status_code == 400


async def test_cancel_needs_the_token_and_keeps_a_terminal_task_terminal(
    store: MemoryStore,
) -> None:
    async with await _client(store, None) as client:
        refused = await client.post("/api/tasks/t-new/cancel")
    assert refused.status_code == 403
    assert "start it with --token" in refused.json()["error"]
    async with await _client(store, TOKEN) as client:
        unread = await client.get("/api/tasks")
        wrong = await client.post("/api/tasks/t-new/cancel", headers={"Authorization": "Bearer x"})
        done = await client.post("/api/tasks/t-new/cancel", headers=AUTH)
        again = await client.post("/api/tasks/t-new/cancel", headers=AUTH)
    assert (unread.status_code, wrong.status_code) == (401, 401)
    assert done.status_code == 200
    assert done.json()["status"] == "cancelled"
    assert again.status_code == 409
    assert "already ended: it is cancelled" in again.json()["error"]
    record = await store.get("t-new", now=NOW)
    assert record is not None
    assert record.status is TaskStatus.CANCELLED


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Host": "attacker.example"}, 421),  # DNS rebinding: our address, their name
        ({"Origin": "http://attacker.example"}, 403),  # another site's page calling us
        ({"Origin": "http://127.0.0.1:8400"}, 200),  # the page itself
    ],
)
async def test_host_and_origin_are_checked(
    store: MemoryStore, headers: dict[str, str], status: int
) -> None:
    async with await _client(store, TOKEN) as client:
        for path in ("/", "/api/tasks"):
            answer = await client.get(path, headers={**AUTH, **headers})
            assert answer.status_code == status, path
        cancel = await client.post("/api/tasks/t-old/cancel", headers={**AUTH, **headers})
    assert cancel.status_code == status


async def test_a_store_that_cannot_list_across_owners_is_refused() -> None:
    with pytest.raises(CannotListAllOwnersError, match="cannot list across owners"):
        dashboard_app(DictStore())  # type: ignore[arg-type, unused-ignore]


async def test_the_feed_follows_the_stores_notifications(store: MemoryStore) -> None:
    """A snapshot comes again as soon as a listed live task changes (no 2 s wait)."""
    feed = snapshots(store, store, TaskFilter(), cursor=None, limit=10)
    first = await anext(feed)
    assert [t["status"] for t in first["tasks"]] == ["working", "working"]
    await store.update("t-old", now=NOW, status=TaskStatus.COMPLETED)

    with anyio.fail_after(1):
        second = await anext(feed)
    assert [t["status"] for t in second["tasks"]] == ["working", "completed"]
    assert second["counts"]["completed"] == 1
    await feed.aclose()  # type: ignore[attr-defined]


async def test_the_standalone_dashboard_reads_a_sqlite_store(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "t.db")
    await store.open()
    await store.create(make_record("s-1", owner="principal:bob"))
    await store.close()
    app = dashboard_app(SQLiteStore(tmp_path / "t.db"), open_store=True)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://localhost") as c,
    ):
        listing = (await c.get("/api/tasks")).json()
    assert [(t["taskId"], t["owner"]) for t in listing["tasks"]] == [("s-1", "principal:bob")]


def test_the_command_refuses_an_open_bind_without_a_token(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("TASKAPP_DASHBOARD_TOKEN", raising=False)
    code = cli.main(["dashboard", "--store", f"sqlite:///{tmp_path}/x.db", "--host", "0.0.0.0"])
    assert code == 2
    assert "binding '0.0.0.0' (not loopback) needs a token" in capsys.readouterr().err
    code = cli.main(["dashboard", "--store", "memory://"])
    assert code == 2
    assert "memory:// lives inside the process" in capsys.readouterr().err


def test_the_command_serves_a_sqlite_store(tmp_path: Path) -> None:
    """`taskapp dashboard` as a user starts it: its own process, uvicorn, the lifespan
    opening the store; a read, a cancel with the token, and the store's gauges."""
    import socket
    import subprocess
    import sys

    async def fill() -> None:
        store = SQLiteStore(tmp_path / "t.db")
        await store.open()
        await store.create(make_record("s-1", owner="principal:zoe", ttl_ms=None))
        await store.close()

    anyio.run(fill)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "taskapp", "dashboard", "--store", f"sqlite:///{tmp_path}/t.db",
         "--port", str(port), "--token", TOKEN, "--metrics"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert process.stderr is not None
        line = process.stderr.readline().decode()
        assert f"dashboard at http://127.0.0.1:{port}/ (cancel with the token)" in line
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):  # until uvicorn listens
            try:
                listing = httpx.get(f"{base}/api/tasks", headers=AUTH)
                break
            except httpx.ConnectError:
                anyio.run(anyio.sleep, 0.1)
        cancelled = httpx.post(f"{base}/api/tasks/s-1/cancel", headers=AUTH)
        metrics = httpx.get(f"{base}/metrics")
    finally:
        process.terminate()
        _, err = process.communicate(timeout=20)
    assert [t["owner"] for t in listing.json()["tasks"]] == ["principal:zoe"]
    assert cancelled.json()["status"] == "cancelled"
    assert 'taskapp_tasks{status="cancelled"} 1.0' in metrics.text
    assert b"Traceback" not in err


async def test_metrics_show_the_stores_counts_and_the_servers_own(store: MemoryStore) -> None:
    """Beside a server (`taskapp run --dashboard --metrics`), /metrics adds that process's
    metrics to the store's gauges; off by default; no token needed, Host still checked."""
    served = b"# TYPE taskapp_tasks_created_total counter\ntaskapp_tasks_created_total 7.0\n"
    config = DashboardConfig(token=TOKEN, metrics=True)
    app = dashboard_app(store, config, metrics=lambda: served)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        shown = await client.get("/metrics")
        foreign = await client.get("/metrics", headers={"Host": "evil.example"})
    assert shown.status_code == 200
    counts = await store.count_by_status(now=time.time())
    assert sum(counts.values()) == 2  # the fixture's two tasks
    for status in TaskStatus:
        line = f'taskapp_tasks{{status="{status.value}"}} {float(counts.get(status, 0))}'
        assert line in shown.text
    assert "taskapp_tasks_created_total 7.0" in shown.text
    assert foreign.status_code == 421
    off = dashboard_app(store, DashboardConfig())
    transport = httpx.ASGITransport(app=off)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        assert (await client.get("/metrics")).status_code == 404

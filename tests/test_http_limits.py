"""What an HTTP client may cost the server (issue 19): sessions, bodies, Host, timeouts.

(A malformed initialize opening no session is in test_http.py.)

In memory through httpx's ASGITransport where a whole answer is enough; uvicorn in this
event loop (with `serve_http`'s protocol) for open streams and raw sockets; and one real
`taskapp run` process whose peak memory is read from /proc.
"""

from __future__ import annotations

import contextlib
import socket
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import httpx
import pydantic_core
import pytest
import uvicorn
from anyio.abc import SocketStream

from taskapp.transports.http import HttpTransport
from taskapp.transports.http_limits import HttpLimits, default_hosts, header_timeout_protocol

from .raw import INIT_PARAMS
from .test_http import POST_HEADERS, error_of, make_app, open_session, rpc, serving
from .test_http_interop import run_server

pytestmark = pytest.mark.anyio

MIB = 1024 * 1024
SLACK = 1.5  # seconds a timeout may overrun on a busy CI machine


def transport(**limits: float) -> HttpTransport:
    return HttpTransport(make_app().spec(), limits=HttpLimits(**limits))  # type: ignore[arg-type]


async def initialize(client: httpx.AsyncClient, body: bytes) -> httpx.Response:
    return await client.post("/mcp", content=body, headers=POST_HEADERS)


# -- item 2: sessions expire, and are capped -----------------------------------------


async def test_an_idle_session_expires_and_is_then_not_found() -> None:
    http = transport(session_idle_timeout_s=0.3)
    async with serving(http.asgi()) as client:
        session = await open_session(client)
        task_id = await session.start_task(0.05)
        await anyio.sleep(1.0)
        assert http.sessions == {}
        response = await session.post(rpc(9, "ping"))
        assert response.status_code == 404
        # Its tasks live on in the store, as after DELETE.
        fresh = await open_session(client)
        assert "error" in await fresh.call("tasks/get", {"taskId": task_id})  # another owner


async def test_activity_keeps_a_session_alive() -> None:
    http = transport(session_idle_timeout_s=0.4)
    async with serving(http.asgi()) as client:
        session = await open_session(client)
        for _ in range(6):
            await anyio.sleep(0.15)
            assert await session.result("ping") == {}


async def test_a_session_with_an_open_stream_is_not_idle() -> None:
    """A GET stream, or a tasks/result waiting for its task, keeps a session; an idle
    one beside it expires; once the stream ends, the idle time starts again."""
    http = transport(session_idle_timeout_s=0.3)
    async with live(http) as (client, _):
        watching, waiting, idle = [await open_session(client) for _ in range(3)]
        task_id = await waiting.start_task(1.2)
        get_headers = {**watching.headers, "accept": "text/event-stream"}
        async with (
            client.stream("GET", "/mcp", headers=get_headers) as stream,
            client.stream(
                "POST", "/mcp", content=rpc(5, "tasks/result", {"taskId": task_id}),
                headers=waiting.headers,
            ) as result,
        ):  # fmt: skip
            assert (stream.status_code, result.status_code) == (200, 200)
            await anyio.sleep(1.0)
            assert set(http.sessions) == {watching.session_id, waiting.session_id}
        await anyio.sleep(1.0)
        assert http.sessions == {}
        assert idle.session_id not in http.sessions


async def test_sessions_per_client_are_capped_with_429() -> None:
    http = transport(max_sessions_per_client=2)
    async with serving(http.asgi()) as client:
        one = await open_session(client)
        await open_session(client)
        refused = await initialize(client, rpc(1, "initialize", INIT_PARAMS))
        assert refused.status_code == 429
        assert error_of(refused)["message"].startswith("Too many sessions: 2 open")
        assert "mcp-session-id" not in refused.headers
        assert len(http.sessions) == 2
        await client.delete("/mcp", headers=one.headers)
        await open_session(client)  # room again


async def test_past_the_global_cap_the_least_recently_active_idle_session_goes() -> None:
    http = transport(max_sessions=2)
    async with serving(http.asgi()) as client:
        older = await open_session(client)
        newer = await open_session(client)
        assert await older.result("ping") == {}  # now `newer` is the least recently active
        third = await open_session(client)
        assert set(http.sessions) == {older.session_id, third.session_id}
        assert (await newer.post(rpc(9, "ping"))).status_code == 404


async def test_past_the_global_cap_with_every_session_busy_is_503() -> None:
    http = transport(max_sessions=1)
    async with live(http) as (client, _):
        busy = await open_session(client)
        get_headers = {**busy.headers, "accept": "text/event-stream"}
        async with client.stream("GET", "/mcp", headers=get_headers):
            refused = await initialize(client, rpc(1, "initialize", INIT_PARAMS))
        assert refused.status_code == 503
        assert set(http.sessions) == {busy.session_id}


# -- item 4: the body limit ----------------------------------------------------------


async def test_a_body_past_the_limit_is_413_as_it_streams_in() -> None:
    http = HttpTransport(make_app().spec(), max_body_bytes=1000)

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: chunked
        for _ in range(4):
            yield b" " * 400

    async with serving(http.asgi()) as client:
        response = await client.post("/mcp", content=chunks(), headers=POST_HEADERS)
    assert response.status_code == 413


async def test_a_declared_content_length_past_the_limit_is_413_before_the_body() -> None:
    async with live(transport()) as (_, port), await anyio.connect_tcp("127.0.0.1", port) as sock:
        head = f"Content-Length: {4 * MIB + 1}\r\nContent-Type: application/json\r\n"
        await sock.send(_head(port, head + f"Accept: {POST_HEADERS['accept']}\r\n"))
        answer = b""
        with anyio.fail_after(SLACK):  # no byte of the body sent: answered anyway
            while not answer.endswith(b"}"):
                answer += await sock.receive()
    assert answer.startswith(b"HTTP/1.1 413 ")


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc/PID/status")
async def test_four_concurrent_maximum_bodies_stay_under_300_mib(tmp_path: Path) -> None:
    """Issue 19: four 120 MiB POSTs peaked at 1.45 GiB. Now 4 MiB is the most, and four
    at once, flat or of many small objects (about 20x when parsed), stay far below."""
    with run_server("tests/fixture_app.py:app", tmp_path / "server.log") as server:
        async with httpx.AsyncClient(base_url=server.base, timeout=30) as client:
            session = await open_session(client)
            for kind in ("flat", "objects"):
                bodies = [_echo_body(kind, i) for i in range(4)]
                async with anyio.create_task_group() as tg:
                    for body in bodies:
                        tg.start_soon(session.post, body)
            over = await session.post(_echo_body("flat", 9) + b" ")
        peak_kib = _peak_kib(server.process.pid)
    assert over.status_code == 413
    assert peak_kib < 300 * 1024, f"peak RSS {peak_kib} KiB"


async def test_the_message_limit_is_an_option_for_stdio_lines_too() -> None:
    """`taskapp run --max-message-bytes` (TaskApp(max_message_bytes=)): a longer stdio
    line is answered -32600 and the next one still served."""
    long_line = rpc(1, "ping", {"pad": "x" * 200})
    lines = [long_line, rpc(2, "initialize", INIT_PARAMS), rpc(3, "ping")]
    command = [sys.executable, "-m", "taskapp", "run", "tests/fixture_app.py:app"]
    command += ["--max-message-bytes", "200", "--log-level", "warning"]
    with anyio.fail_after(15):
        done = await anyio.run_process(
            command, input=b"\n".join(lines) + b"\n", cwd=Path(__file__).parent.parent
        )
    answers = [pydantic_core.from_json(line) for line in done.stdout.splitlines()]
    assert answers[0]["error"]["code"] == -32600
    assert "200 bytes" in answers[0]["error"]["message"]
    assert [answer.get("id") for answer in answers[1:]] == [2, 3]


def _echo_body(kind: str, request_id: int) -> bytes:
    """An `echo` call of exactly 4 MiB: one long string, or a list of `{}`."""
    head = b'{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"echo",' % (
        100 + request_id
    )
    head += b'"arguments":{"text":'
    room = 4 * MIB - len(head) - 3
    if kind == "flat":
        middle = b'"' + b"x" * (room - 2) + b'"'
    else:
        middle = b"[" + b"{}," * ((room - 4) // 3) + b"{}" + b" " * ((room - 4) % 3) + b"]"
    body = head + middle + b"}}}"
    assert len(body) == 4 * MIB
    return body


def _peak_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM in /proc")  # pragma: no cover


# -- item 7: the Host header ---------------------------------------------------------


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8000", "127.0.0.2:8000", ""])
async def test_a_host_not_allowed_is_421_even_without_an_origin(host: str) -> None:
    http = transport()
    async with serving(http.asgi()) as client:
        response = await client.post(
            "/mcp",
            content=rpc(1, "initialize", INIT_PARAMS),
            headers={**POST_HEADERS, "host": host},
        )
        assert response.status_code == 421
        assert error_of(response)["message"].startswith("Misdirected request: Host")
        assert http.sessions == {}


@pytest.mark.parametrize("host", ["localhost:8000", "127.0.0.1", "[::1]:9", "LOCALHOST"])
async def test_loopback_hosts_are_served_by_default(host: str) -> None:
    async with serving(transport().asgi()) as client:
        await open_session(client, host=host)


async def test_allowed_hosts_by_name_or_with_a_port() -> None:
    app = make_app().http_app(allowed_hosts=["mcp.example.com", "api.example.com:8443"])
    async with serving(app) as client:
        await open_session(client, host="mcp.example.com:443")
        await open_session(client, host="api.example.com:8443")
        response = await initialize_with(client, host="api.example.com:9000")
        assert response.status_code == 421
        response = await initialize_with(client, host="localhost")  # listed names replace
        assert response.status_code == 421


async def initialize_with(client: httpx.AsyncClient, **headers: str) -> httpx.Response:
    body = rpc(1, "initialize", INIT_PARAMS)
    return await client.post("/mcp", content=body, headers={**POST_HEADERS, **headers})


def test_the_default_hosts_follow_the_bound_address() -> None:
    loopback = ("localhost", "127.0.0.1", "[::1]")
    assert default_hosts("127.0.0.1") == loopback
    assert default_hosts("0.0.0.0") == loopback  # a wildcard names no host: configure it
    assert default_hosts("10.1.2.3") == (*loopback, "10.1.2.3")
    assert default_hosts("mcp.internal") == (*loopback, "mcp.internal")
    assert default_hosts("fd00::1") == (*loopback, "[fd00::1]")


# -- item 8: read timeouts -----------------------------------------------------------


async def test_connections_trickling_their_headers_are_closed() -> None:
    http = transport(header_timeout_s=0.5)
    async with live(http) as (client, port), anyio.create_task_group() as tg:
        closed_after: list[float] = []
        for _ in range(40):  # as in the issue, where they were never dropped
            tg.start_soon(_trickle_head, port, closed_after)
        await anyio.sleep(0.2)
        await open_session(client)  # the server keeps answering meanwhile
    assert len(closed_after) == 40
    assert all(0.4 < t < 0.5 + SLACK for t in closed_after), closed_after


async def test_a_kept_alive_connection_gets_the_header_timeout_again() -> None:
    async with live(transport(header_timeout_s=0.5)) as (_, port):
        async with await anyio.connect_tcp("127.0.0.1", port) as sock:
            await sock.send(_head(port, ""))  # a whole GET without a session: 400, kept alive
            with anyio.fail_after(SLACK):
                first = await sock.receive()
            assert first.startswith(b"HTTP/1.1 400 ")
            start = time.monotonic()
            await sock.send(b"GET /mcp HTTP/1.1\r\n")
            with anyio.fail_after(0.5 + SLACK):
                assert await _read_all(sock) == b""
        assert time.monotonic() - start > 0.4


async def test_a_trickled_body_is_408_and_closed() -> None:
    http = transport(body_timeout_s=0.5)
    async with live(http) as (client, port), await anyio.connect_tcp("127.0.0.1", port) as sock:
        head = "Content-Type: application/json\r\nContent-Length: 1000\r\n"
        await sock.send(_head(port, head + f"Accept: {POST_HEADERS['accept']}\r\n"))
        start = time.monotonic()
        answer = b""
        with anyio.fail_after(0.5 + SLACK):
            with contextlib.suppress(anyio.EndOfStream, anyio.BrokenResourceError):
                while True:
                    await sock.send(b" ")
                    with anyio.move_on_after(0.1):
                        answer += await sock.receive()
                        if answer.endswith(b"}"):
                            break
        assert answer.startswith(b"HTTP/1.1 408 "), answer
        assert 0.4 < time.monotonic() - start < 0.5 + SLACK
        await open_session(client)


async def _trickle_head(port: int, closed_after: list[float]) -> None:
    start = time.monotonic()
    async with await anyio.connect_tcp("127.0.0.1", port) as sock:
        await sock.send(b"POST /mcp HTTP/1.1\r\n")
        with anyio.fail_after(0.5 + SLACK), contextlib.suppress(anyio.BrokenResourceError):
            while True:
                await sock.send(b"X: y\r\n")
                with anyio.move_on_after(0.1):
                    if await _read_all(sock) == b"":
                        break
    closed_after.append(time.monotonic() - start)


def _head(port: int, headers: str) -> bytes:
    method = "POST" if "Content-Length" in headers else "GET"
    return f"{method} /mcp HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{headers}\r\n".encode()


async def _read_all(sock: SocketStream) -> bytes:
    """What the server sends until it closes the connection."""
    data = b""
    with contextlib.suppress(anyio.EndOfStream, anyio.BrokenResourceError):
        while True:
            data += await sock.receive()
    return data


# -- a real uvicorn, configured as serve_http does ------------------------------------


class _InProcess(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the test runner keeps its signal handlers


@asynccontextmanager
async def live(http: HttpTransport) -> AsyncIterator[tuple[httpx.AsyncClient, int]]:
    config = uvicorn.Config(
        http.asgi(), lifespan="on", log_config=None, access_log=False, ws="none",
        http=header_timeout_protocol(http.limits.header_timeout_s),
        timeout_graceful_shutdown=1, log_level="warning",
    )  # fmt: skip
    server = _InProcess(config)
    with socket.socket() as sock, anyio.fail_after(15):
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        async with anyio.create_task_group() as tg:
            tg.start_soon(server.serve, [sock])
            while not server.started:  # noqa: ASYNC110 (uvicorn offers no event to wait on)
                await anyio.sleep(0.01)
            try:
                base = f"http://127.0.0.1:{port}"
                async with httpx.AsyncClient(base_url=base, timeout=10) as client:
                    yield client, port
            finally:
                server.should_exit = True

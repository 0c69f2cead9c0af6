"""The stdio transport and the CLI as a client sees them: a real `taskapp run` subprocess."""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import pydantic_core
import pytest
from anyio.abc import Process

from taskapp._version import __version__
from taskapp.sessions.channel import MessageTooLargeError
from taskapp.transports.stdio import FdChannel

from .raw import INIT_PARAMS

pytestmark = pytest.mark.anyio

REPO = Path(__file__).resolve().parent.parent
TASKAPP = [sys.executable, "-m", "taskapp"]
TASKAPP_SCRIPT = Path(sys.executable).with_name("taskapp")  # the console script


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("TASKAPP_STORE", None)
    return env


class StdioServer:
    """Newline-delimited JSON-RPC to a server process; keeps every stdout line it reads."""

    def __init__(self, process: Process, stderr_path: Path) -> None:
        self.process = process
        self.stderr_path = stderr_path
        self.lines: list[bytes] = []
        self.notifications: list[dict[str, Any]] = []
        self._buffer = bytearray()
        self._ids = iter(range(1, 1_000_000))

    async def send_raw(self, data: bytes) -> None:
        assert self.process.stdin is not None
        await self.process.stdin.send(data)

    async def send(self, message: dict[str, Any]) -> None:
        await self.send_raw(pydantic_core.to_json(message) + b"\n")

    async def read_line(self) -> bytes | None:
        """The next stdout line, or None at the end of stdout."""
        assert self.process.stdout is not None
        while (newline := self._buffer.find(b"\n")) < 0:
            try:
                self._buffer.extend(await self.process.stdout.receive())
            except anyio.EndOfStream:
                if self._buffer:
                    self.lines.append(bytes(self._buffer))
                    self._buffer.clear()
                return None
        line = bytes(self._buffer[:newline])
        del self._buffer[: newline + 1]
        self.lines.append(line)
        return line

    async def read(self) -> dict[str, Any]:
        line = await self.read_line()
        assert line is not None, "stdout ended"
        message: dict[str, Any] = pydantic_core.from_json(line)
        return message

    async def response(self, request_id: Any) -> dict[str, Any]:
        with anyio.fail_after(10):
            while True:
                message = await self.read()
                if "method" in message:
                    self.notifications.append(message)
                elif message.get("id") == request_id:
                    return message

    async def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        request_id = next(self._ids)
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params is not None:
            message["params"] = params
        await self.send(message)
        return await self.response(request_id)

    async def result(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        response = await self.call(method, params)
        assert "result" in response, response
        result: dict[str, Any] = response["result"]
        return result

    async def initialize(self, capabilities: dict[str, Any] | None = None) -> dict[str, Any]:
        params = (
            INIT_PARAMS if capabilities is None else {**INIT_PARAMS, "capabilities": capabilities}
        )
        result = await self.result("initialize", params)
        await self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        return result

    async def read_to_end(self) -> None:
        with anyio.fail_after(10):
            while await self.read_line() is not None:
                pass

    def stderr(self) -> str:
        return self.stderr_path.read_text()


@asynccontextmanager
async def stdio_server(
    tmp_path: Path, *args: str, command: list[str] | None = None
) -> AsyncIterator[StdioServer]:
    """`taskapp run ARGS...` with pipes on stdin and stdout, and stderr in a file."""
    stderr_path = tmp_path / "stderr.log"
    with stderr_path.open("wb") as stderr:
        process = await anyio.open_process(
            [*(command or TASKAPP), "run", *args], cwd=REPO, env=_env(), stderr=stderr
        )
        try:
            yield StdioServer(process, stderr_path)
        finally:
            with anyio.fail_after(10):
                await process.aclose()  # closes stdin: the server's cue to stop


async def _run_cli(*args: str) -> tuple[int, str, str]:
    with anyio.fail_after(20):
        done = await anyio.run_process(
            [*TASKAPP, *args], input=b"", check=False, cwd=REPO, env=_env()
        )
    return done.returncode, done.stdout.decode(), done.stderr.decode()


# -- the stdio transport ---------------------------------------------------------


async def test_stdout_carries_only_json_rpc_and_logs_go_to_stderr(tmp_path: Path) -> None:
    async with stdio_server(tmp_path, "examples/hello.py:app", "--log-level", "debug") as server:
        init = await server.initialize()
        assert init["serverInfo"] == {"name": "hello", "version": "1.0.0"}
        await server.send({"jsonrpc": "2.0", "method": "notifications/unheard-of"})
        created = await server.result(
            "tools/call", {"name": "greet", "arguments": {"name": "stdio"}, "task": {}}
        )
        task_id = created["task"]["taskId"]
        result = await server.result("tasks/result", {"taskId": task_id})
        assert result["content"] == [{"type": "text", "text": "Hello, stdio!"}]
        assert server.process.stdin is not None
        await server.process.stdin.aclose()
        await server.read_to_end()
        with anyio.fail_after(10):
            assert await server.process.wait() == 0
    assert len(server.lines) >= 3
    for line in server.lines:
        message = pydantic_core.from_json(line)
        assert isinstance(message, dict), line
        assert message["jsonrpc"] == "2.0", line
        assert "method" in message or "result" in message or "error" in message, line
    stderr = server.stderr()
    assert "session initialized" in stderr
    assert f"task_id='{task_id}'" in stderr
    assert "level='debug'" in stderr  # the ignored notification, at debug level
    assert "Traceback" not in stderr


async def test_a_tool_writing_to_stdout_leaves_the_protocol_clean(tmp_path: Path) -> None:
    """`print`, `os.write(1, ...)` and a subprocess's output land on stderr, not on the protocol."""
    async with stdio_server(tmp_path, "tests/noisy_app.py:app") as server:
        await server.initialize()
        called = await server.result("tools/call", {"name": "chatty", "arguments": {"word": "a"}})
        assert called["content"] == [{"type": "text", "text": "said a"}]
        created = await server.result(
            "tools/call", {"name": "chatty", "arguments": {"word": "b"}, "task": {}}
        )
        result = await server.result("tasks/result", {"taskId": created["task"]["taskId"]})
        assert result["content"] == [{"type": "text", "text": "said b"}]
        assert await server.result("ping") == {}
        assert server.process.stdin is not None
        await server.process.stdin.aclose()
        await server.read_to_end()
        with anyio.fail_after(10):
            assert await server.process.wait() == 0
    for line in server.lines:
        assert pydantic_core.from_json(line)["jsonrpc"] == "2.0", line
    stderr = server.stderr()
    for word in "ab":
        for way in ("print", "os.write", "subprocess"):
            assert f"{way} says {word}" in stderr


async def test_stdin_eof_mid_task_exits_zero(tmp_path: Path) -> None:
    """Running tasks are cancelled cleanly and the process exits 0."""
    async with stdio_server(tmp_path, "examples/hello.py:app") as server:
        await server.initialize()
        created = await server.result(
            "tools/call",
            {
                "name": "slow_add",
                "arguments": {"a": 1, "b": 2, "steps": 1, "delay": 60},
                "task": {},
            },
        )
        assert created["task"]["status"] == "working"
        assert server.process.stdin is not None
        await server.process.stdin.aclose()
        with anyio.fail_after(10):
            returncode = await server.process.wait()
        assert returncode == 0
        await server.read_to_end()
    assert "Traceback" not in server.stderr()


async def test_requests_read_before_stdin_closes_are_still_answered(tmp_path: Path) -> None:
    """A stdio client shuts the server down by closing stdin and waiting for it to exit
    (basic/lifecycle, "stdio"), so what it asked before that is answered: an inline call
    that takes a while, and a blocking tasks/result of a running task, which the closing
    interrupts at once: S-28, it blocks until the task ends; S-27, then its JSON-RPC error
    (docs/protocol.md#shutdown)."""
    async with stdio_server(tmp_path, "tests/fixture_app.py:app") as server:
        await server.initialize()
        created = await server.result(
            "tools/call", {"name": "sleeper", "arguments": {"seconds": 60}, "task": {}}
        )
        task_id = created["task"]["taskId"]
        inline = {"name": "sleeper", "arguments": {"seconds": 0.5}}
        await server.send({"jsonrpc": "2.0", "id": "inline", "method": "tools/call",
                           "params": inline})  # fmt: skip
        await server.send({"jsonrpc": "2.0", "id": "result", "method": "tasks/result",
                           "params": {"taskId": task_id}})  # fmt: skip
        assert server.process.stdin is not None
        await server.process.stdin.aclose()
        with anyio.fail_after(10):
            returncode = await server.process.wait()
        await server.read_to_end()
    answers = {m.get("id"): m for m in map(pydantic_core.from_json, server.lines)}
    assert answers["inline"]["result"]["content"] == [{"type": "text", "text": "slept 0.5s"}]
    error = answers["result"]["error"]
    assert error["code"] == -32603
    assert "interrupted" in error["message"]
    assert returncode == 0
    assert "Traceback" not in server.stderr()


async def test_eof_grace_bounds_the_wait_for_answers(tmp_path: Path) -> None:
    """`--eof-grace`: a request still running when it is over is cancelled, unanswered,
    and the process exits 0 instead of waiting for it (the tool sleeps a minute)."""
    async with stdio_server(tmp_path, "tests/fixture_app.py:app", "--eof-grace", "0.3") as server:
        await server.initialize()
        long = {"name": "sleeper", "arguments": {"seconds": 60}}
        await server.send({"jsonrpc": "2.0", "id": "long", "method": "tools/call",
                           "params": long})  # fmt: skip
        assert server.process.stdin is not None
        await server.process.stdin.aclose()
        with anyio.fail_after(10):
            returncode = await server.process.wait()
        await server.read_to_end()
    assert all(pydantic_core.from_json(line).get("id") != "long" for line in server.lines)
    assert returncode == 0
    assert "requests not answered in time are cancelled" in server.stderr()


ASKING_APP = """
import anyio
from pydantic import BaseModel
from taskapp import TaskApp, TaskContext

app = TaskApp("asking")

class Name(BaseModel):
    name: str

@app.tool()
async def ask(ctx: TaskContext, delay: float = 0) -> str:
    await anyio.sleep(delay)
    try:
        await ctx.elicit("Your name?", Name)
    except Exception as exc:
        return f"no answer: {exc}"
    return "answered"
"""


async def test_a_question_to_a_client_that_closed_stdin_fails_at_once(tmp_path: Path) -> None:
    """The server's own request (elicitation/create) can get no answer once stdin has
    closed: it fails there and then, so the tool that asked still answers its call."""
    (tmp_path / "asking.py").write_text(ASKING_APP)
    async with stdio_server(tmp_path, f"{tmp_path / 'asking.py'}:app") as server:
        await server.initialize({"elicitation": {}})
        await server.send({"jsonrpc": "2.0", "id": "ask", "method": "tools/call",
                           "params": {"name": "ask", "arguments": {}}})  # fmt: skip
        with anyio.fail_after(10):
            question = await server.read()
        assert question["method"] == "elicitation/create"
        assert server.process.stdin is not None
        with anyio.fail_after(4):  # under the default --eof-grace (5 s): not its end
            await server.process.stdin.aclose()
            assert await server.process.wait() == 0
        await server.read_to_end()
    answers = {m.get("id"): m for m in map(pydantic_core.from_json, server.lines)}
    [text] = answers["ask"]["result"]["content"]
    said = "no answer: the client can no longer answer elicitation/create: it has gone"
    assert text["text"] == said


async def test_a_question_asked_after_stdin_closed_fails_at_once(tmp_path: Path) -> None:
    """The same for a question the tool asks only after stdin has closed: it is not
    even sent, and the call is answered long before the grace is over."""
    (tmp_path / "asking.py").write_text(ASKING_APP)
    async with stdio_server(tmp_path, f"{tmp_path / 'asking.py'}:app") as server:
        await server.initialize({"elicitation": {}})
        await server.send({"jsonrpc": "2.0", "id": "ask", "method": "tools/call",
                           "params": {"name": "ask", "arguments": {"delay": 0.5}}})  # fmt: skip
        assert server.process.stdin is not None
        with anyio.fail_after(4):  # under the default --eof-grace (5 s): not its end
            await server.process.stdin.aclose()
            assert await server.process.wait() == 0
        await server.read_to_end()
    messages = [pydantic_core.from_json(line) for line in server.lines]
    assert all(m.get("method") != "elicitation/create" for m in messages)
    [answer] = [m for m in messages if m.get("id") == "ask"]
    said = "no answer: the client can no longer answer elicitation/create: it has gone"
    assert answer["result"]["content"][0]["text"] == said


async def test_a_subscription_open_when_stdin_closes_ends_at_once(tmp_path: Path) -> None:
    """A 2026-07-28 `subscriptions/listen` is held open until the connection ends: once
    stdin closes it is answered at once, and the process exits without waiting out a
    grace meant for requests still at work (30 s here)."""
    modern = {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
              "io.modelcontextprotocol/clientCapabilities": {},
              "io.modelcontextprotocol/clientInfo": {"name": "t", "version": "0"}}  # fmt: skip
    async with stdio_server(tmp_path, "examples/hello.py:app", "--eof-grace", "30") as server:
        await server.send({"jsonrpc": "2.0", "id": "listen", "method": "subscriptions/listen",
                           "params": {"notifications": {}, "_meta": modern}})  # fmt: skip
        with anyio.fail_after(10):
            acknowledged = await server.read()
        assert acknowledged["method"] == "notifications/subscriptions/acknowledged"
        assert server.process.stdin is not None
        with anyio.fail_after(10):
            await server.process.stdin.aclose()
            assert await server.process.wait() == 0
        await server.read_to_end()
    answers = [m for m in map(pydantic_core.from_json, server.lines) if m.get("id") == "listen"]
    [result] = [answer["result"] for answer in answers]
    assert result["resultType"] == "complete"
    assert result["_meta"]["io.modelcontextprotocol/subscriptionId"] == "listen"


RERUN_APP = """
import anyio
from taskapp import TaskApp

app = TaskApp("rerun", store="sqlite:///{db}")

@app.task_tool(mode="required", on_interrupt="rerun")
async def long() -> str:
    await anyio.sleep(60)
    return "done"
"""


async def test_a_result_that_cannot_come_is_not_waited_for_at_eof(tmp_path: Path) -> None:
    """A task that runs again after a restart (on_interrupt="rerun") stays `working` in
    the store when stdin closes: its blocking tasks/result gets an error at once rather
    than holding the process for the whole grace (30 s here)."""
    (tmp_path / "rerun.py").write_text(RERUN_APP.format(db=tmp_path / "tasks.db"))
    async with stdio_server(
        tmp_path, f"{tmp_path / 'rerun.py'}:app", "--eof-grace", "30"
    ) as server:
        await server.initialize()
        created = await server.result("tools/call", {"name": "long", "arguments": {}, "task": {}})
        await server.send({"jsonrpc": "2.0", "id": "result", "method": "tasks/result",
                           "params": {"taskId": created["task"]["taskId"]}})  # fmt: skip
        assert server.process.stdin is not None
        with anyio.fail_after(10):
            await server.process.stdin.aclose()
            assert await server.process.wait() == 0
        await server.read_to_end()
    [answer] = [m for m in map(pydantic_core.from_json, server.lines) if m.get("id") == "result"]
    assert answer["error"]["code"] == -32603
    assert "the connection is closing before task" in answer["error"]["message"]


async def test_a_negative_eof_grace_is_refused() -> None:
    code, out, err = await _run_cli("run", "tests/fixture_app.py:app", "--eof-grace", "-1")
    assert (code, out) == (2, "")
    assert "taskapp: --eof-grace -1: give 0 or more seconds" in err


async def test_garbage_line_is_a_parse_error_and_serving_goes_on(tmp_path: Path) -> None:
    async with stdio_server(tmp_path, "examples/hello.py:app") as server:
        await server.initialize()
        await server.send_raw(b"this is not json\n\n   \n")
        with anyio.fail_after(10):
            error = await server.read()
        assert error["id"] is None
        assert error["error"]["code"] == -32700
        assert await server.result("ping") == {}
        echoed = await server.result("tools/call", {"name": "echo", "arguments": {"text": "ok"}})
        assert echoed["content"] == [{"type": "text", "text": "ok"}]


async def test_store_option_memory(tmp_path: Path) -> None:
    async with stdio_server(tmp_path, "examples/hello.py:app", "--store", "memory://") as server:
        await server.initialize()
        created = await server.result(
            "tools/call",
            {"name": "slow_add", "arguments": {"a": 2, "b": 3, "steps": 1, "delay": 0}, "task": {}},
        )
        task_id = created["task"]["taskId"]
        result = await server.result("tasks/result", {"taskId": task_id})
        assert result["content"] == [{"type": "text", "text": "2 + 3 = 5"}]
        listed = await server.result("tasks/list", {})
        assert [t["taskId"] for t in listed["tasks"]] == [task_id]


async def test_module_form_target_with_the_console_script(tmp_path: Path) -> None:
    """`module:attr` resolves from the current directory even when it is not on sys.path."""
    if not TASKAPP_SCRIPT.exists():
        pytest.skip("the taskapp console script is not installed next to this python")
    async with stdio_server(
        tmp_path, "examples.hello:app", command=[str(TASKAPP_SCRIPT)]
    ) as server:
        init = await server.initialize()
        assert init["protocolVersion"] == "2025-11-25"
        assert init["serverInfo"]["name"] == "hello"
        tools = await server.result("tools/list", {})
        assert [t["name"] for t in tools["tools"]] == ["echo", "greet", "slow_add"]


async def test_module_form_target_with_python_m(tmp_path: Path) -> None:
    async with stdio_server(tmp_path, "examples.hello:app") as server:
        init = await server.initialize()
        assert init["serverInfo"] == {"name": "hello", "version": "1.0.0"}


# -- FdChannel over a pipe --------------------------------------------------------


class _Pipe:
    """An os.pipe read by an FdChannel (whose own output goes to a second pipe)."""

    def __init__(self, max_message_bytes: int = 1000) -> None:
        self.read_fd, self.write_fd = os.pipe()
        self.out_read_fd, self.out_write_fd = os.pipe()
        self.channel = FdChannel(
            self.read_fd, self.out_write_fd, max_message_bytes=max_message_bytes
        )

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self.write_fd, view) :]

    def close_writer(self) -> None:
        if self.write_fd >= 0:
            os.close(self.write_fd)
            self.write_fd = -1

    def close(self) -> None:
        self.close_writer()
        for fd in (self.read_fd, self.out_read_fd, self.out_write_fd):
            os.close(fd)


@pytest.fixture
async def pipe() -> AsyncIterator[_Pipe]:
    p = _Pipe()
    yield p
    await p.channel.aclose()
    await anyio.lowlevel.checkpoint()  # the transport lets go of the pipe on the next turn
    p.close()


async def test_fd_channel_oversized_line_in_one_chunk(pipe: _Pipe) -> None:
    """A line over the limit is reported once, even if it arrives in a single read."""
    pipe.write(b"x" * 5000 + b'\n{"next": 1}\n')
    with anyio.fail_after(5):
        with pytest.raises(MessageTooLargeError, match="1000"):
            await pipe.channel.receive()
        assert await pipe.channel.receive() == b'{"next": 1}'


async def test_fd_channel_oversized_line_streamed_in_pieces(pipe: _Pipe) -> None:
    """A line over the limit that arrives over many reads is dropped as it streams in."""
    big = b"y" * 300_000  # more than a pipe holds: written while the channel reads

    async def writer() -> None:
        await anyio.to_thread.run_sync(pipe.write, big + b'\n{"next": 2}\n')

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(writer)
            with pytest.raises(MessageTooLargeError):
                await pipe.channel.receive()
            assert await pipe.channel.receive() == b'{"next": 2}'


async def test_fd_channel_oversized_line_whose_end_arrives_later(pipe: _Pipe) -> None:
    """A line under the limit so far, that goes over it in the read that ends it."""
    pipe.write(b"z" * 900)
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:

            async def finish() -> None:
                await anyio.sleep(0.05)
                pipe.write(b"z" * 900 + b'\n{"next": 3}\n')

            tg.start_soon(finish)
            with pytest.raises(MessageTooLargeError):
                await pipe.channel.receive()
        assert await pipe.channel.receive() == b'{"next": 3}'


async def test_fd_channel_line_at_the_limit_passes(pipe: _Pipe) -> None:
    line = b'"' + b"a" * 998 + b'"'  # exactly 1000 bytes
    pipe.write(line + b"\n")
    with anyio.fail_after(5):
        assert await pipe.channel.receive() == line


async def test_fd_channel_last_line_without_newline_and_blank_lines(pipe: _Pipe) -> None:
    pipe.write(b'\n\n   \r\n{"a": 1}\r\n\n{"b": 2}')
    pipe.close_writer()
    with anyio.fail_after(5):
        assert await pipe.channel.receive() == b'{"a": 1}'
        assert await pipe.channel.receive() == b'{"b": 2}'
        with pytest.raises(anyio.EndOfStream):
            await pipe.channel.receive()
        with pytest.raises(anyio.EndOfStream):
            await pipe.channel.receive()


async def test_fd_channel_holds_back_a_client_that_sends_faster_than_it_reads(
    pipe: _Pipe,
) -> None:
    """Reading pauses while whole lines wait unread: the rest stays in the pipe (and the
    client's writes block), it is not piled up in memory; nothing is lost or reordered."""
    line = b'{"n": %d, "pad": "' + b"p" * 200 + b'"}\n'
    count = 20_000  # ~4.4 MB, far more than the pipe and the channel's buffer hold
    pipe.channel._lines._max = 1 << 20

    async def writer() -> None:
        data = b"".join(line % i for i in range(count))
        await anyio.to_thread.run_sync(pipe.write, data)
        pipe.close_writer()

    with anyio.fail_after(30):
        async with anyio.create_task_group() as tg:
            tg.start_soon(writer)
            assert await pipe.channel.receive() == (line % 0).rstrip()
            await anyio.sleep(0.3)  # the writer fills the pipe while we do not read
            buffered = len(pipe.channel._lines)
            assert buffered <= 2 * 256 * 1024, buffered
            for i in range(1, count):
                assert await pipe.channel.receive() == (line % i).rstrip()
            with pytest.raises(anyio.EndOfStream):
                await pipe.channel.receive()


async def test_fd_channel_receive_cancelled_while_waiting_loses_nothing(pipe: _Pipe) -> None:
    with anyio.fail_after(5):
        with anyio.move_on_after(0.05):
            await pipe.channel.receive()  # nothing comes: cancelled while waiting
        pipe.write(b'{"a": 1}\n{"b"')
        assert await pipe.channel.receive() == b'{"a": 1}'
        with anyio.move_on_after(0.05):
            await pipe.channel.receive()  # half a line: cancelled again
        pipe.write(b": 2}\n")
        assert await pipe.channel.receive() == b'{"b": 2}'


async def test_fd_channel_close_stops_watching_the_pipe(pipe: _Pipe) -> None:
    """After aclose the event loop no longer watches the fd (it could be reused)."""
    import asyncio
    import selectors

    pipe.write(b'{"a": 1}\n')
    with anyio.fail_after(5):
        await pipe.channel.receive()
    selector = asyncio.get_running_loop()._selector  # type: ignore[attr-defined]
    assert isinstance(selector, selectors.BaseSelector)
    assert pipe.read_fd in selector.get_map()
    await pipe.channel.aclose()
    await anyio.lowlevel.checkpoint()  # the transport lets go of the pipe on the next turn
    assert pipe.read_fd not in selector.get_map()


class _Delivered:
    """What FdChannel.deliver hands over, and from where (a task, or the loop's callback)."""

    def __init__(self, fail_on: bytes | None = None) -> None:
        self.items: list[bytes | str] = []
        self.from_task: list[bool] = []
        self.fail_on = fail_on
        self.arrived = anyio.Event()

    def message(self, data: bytes) -> None:
        import asyncio

        if data == self.fail_on:
            raise RuntimeError("handler bug")
        self.items.append(data)
        self.from_task.append(asyncio.current_task() is not None)
        self.arrived.set()

    def oversized(self, exc: MessageTooLargeError) -> None:
        self.items.append(f"too large: {exc}")

    async def until(self, count: int) -> None:
        while len(self.items) < count:
            self.arrived = anyio.Event()
            await self.arrived.wait()


async def test_fd_channel_deliver_hands_over_in_order_from_the_read_callback(
    pipe: _Pipe,
) -> None:
    """What was buffered first, then every line as it arrives, an oversized one reported in
    its place, a last line without a newline at the end; then `receive` says it has ended.
    Lines that arrive while delivering are handed over by the event loop's read callback,
    not by a task woken for them: the turn of the loop that read a request answers it."""
    delivered = _Delivered()
    pipe.write(b'{"a": 1}\n{"b": 2}\n{"c"')
    with anyio.fail_after(5):
        assert await pipe.channel.receive() == b'{"a": 1}'  # the rest stays buffered
        async with anyio.create_task_group() as tg:
            tg.start_soon(pipe.channel.deliver, delivered.message, delivered.oversized)
            await delivered.until(1)
            pipe.write(b": 3}\n" + b"x" * 5000 + b'\n{"d": 4}\n')
            await delivered.until(4)
            pipe.write(b'{"e": 5}')
            pipe.close_writer()
        with pytest.raises(anyio.EndOfStream):
            await pipe.channel.receive()
    assert delivered.items == [
        b'{"b": 2}',
        b'{"c": 3}',
        "too large: message longer than 1000 bytes",
        b'{"d": 4}',
        b'{"e": 5}',
    ]
    assert delivered.from_task == [True, False, False, True]  # buffered, read, read, end


async def test_fd_channel_deliver_stops_on_a_failing_handler_and_keeps_the_rest(
    pipe: _Pipe,
) -> None:
    """A handler that raises ends the delivery with its error (as a loop over `receive`
    would); the lines after it are not lost."""
    delivered = _Delivered(fail_on=b'{"bad": 2}')
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:

            async def write_soon() -> None:
                await anyio.sleep(0.05)
                pipe.write(b'{"ok": 1}\n{"bad": 2}\n{"after": 3}\n')

            tg.start_soon(write_soon)
            with pytest.raises(RuntimeError, match="handler bug"):
                await pipe.channel.deliver(delivered.message, delivered.oversized)
        assert delivered.items == [b'{"ok": 1}']
        assert await pipe.channel.receive() == b'{"after": 3}'


async def test_fd_channel_deliver_cancelled_leaves_later_lines_to_receive(pipe: _Pipe) -> None:
    delivered = _Delivered()
    with anyio.fail_after(5):
        with anyio.move_on_after(0.05):
            await pipe.channel.deliver(delivered.message, delivered.oversized)
        pipe.write(b'{"a": 1}\n')
        assert await pipe.channel.receive() == b'{"a": 1}'
    assert delivered.items == []


async def test_fd_channel_deliver_from_a_file_reads_it_all(tmp_path: Path) -> None:
    """Not a pipe (stdin redirected from a file): delivery loops over `receive` instead."""
    source = tmp_path / "requests.jsonl"
    source.write_bytes(b'{"a": 1}\n\n{"b": 2}')
    delivered = _Delivered()
    fd = os.open(source, os.O_RDONLY)
    try:
        channel = FdChannel(fd, fd, max_message_bytes=1000)
        with anyio.fail_after(5):
            await channel.deliver(delivered.message, delivered.oversized)
    finally:
        os.close(fd)
    assert delivered.items == [b'{"a": 1}', b'{"b": 2}']


async def test_fd_channel_send_writes_one_line(pipe: _Pipe) -> None:
    with anyio.fail_after(5):
        await pipe.channel.send(b'{"jsonrpc": "2.0"}')
    assert os.read(pipe.out_read_fd, 100) == b'{"jsonrpc": "2.0"}\n'


# -- the command line --------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("nosuchmodule:app", "no module named 'nosuchmodule'"),
        ("examples/hello.py", "cannot import 'examples/hello.py'"),
        ("examples/hello.py:nothing", "has no attribute 'nothing'"),
        ("examples/nosuchfile.py:app", "no file 'examples/nosuchfile.py'"),
    ],
)
async def test_run_with_a_bad_target_exits_2_naming_the_form(target: str, expected: str) -> None:
    returncode, stdout, stderr = await _run_cli("run", target)
    assert returncode == 2
    assert stdout == ""
    assert expected in stderr
    assert "module:attr" in stderr
    assert "Traceback" not in stderr


async def test_run_with_a_target_that_is_not_an_app_exits_2() -> None:
    returncode, stdout, stderr = await _run_cli("run", "examples/hello.py:echo")
    assert returncode == 2
    assert stdout == ""
    assert "not a TaskApp" in stderr
    assert "function" in stderr


async def test_run_with_a_bad_store_exits_2() -> None:
    returncode, stdout, stderr = await _run_cli(
        "run", "examples/hello.py:app", "--store", "bogus://x"
    )
    assert returncode == 2
    assert stdout == ""
    assert "'bogus'" in stderr
    assert "memory://" in stderr
    assert "Traceback" not in stderr


async def test_version() -> None:
    returncode, stdout, _ = await _run_cli("--version")
    assert returncode == 0
    assert stdout == f"taskapp {__version__}\n"


async def test_run_help() -> None:
    returncode, stdout, _ = await _run_cli("run", "--help")
    assert returncode == 0
    assert "module:attr" in stdout
    assert "--store" in stdout
    assert "--log-level" in stdout


async def test_no_command_exits_2_with_usage() -> None:
    returncode, stdout, stderr = await _run_cli()
    assert returncode == 2
    assert stdout == ""
    assert "run" in stderr


def test_private_stdout_restores_descriptor_1_and_sys_stdout() -> None:
    """taskapp run as a library gives stdout back as it found it."""
    from taskapp.transports.stdio import private_stdout

    before = os.fstat(1)
    stdout = sys.stdout
    with private_stdout() as protocol_fd:
        assert (os.fstat(protocol_fd).st_ino, os.fstat(1).st_ino) == (
            before.st_ino,
            os.fstat(2).st_ino,
        )
        assert sys.stdout is sys.stderr
    assert sys.stdout is stdout
    assert (os.fstat(1).st_dev, os.fstat(1).st_ino) == (before.st_dev, before.st_ino)

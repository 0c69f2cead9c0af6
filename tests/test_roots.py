"""`ctx.list_roots()`: the client's roots (`roots/list`), in both dialects, inline and in a
task, through taskapp's own client (`roots_handler`).

2025-11-25: `roots/list` is a request to the client (client/roots.mdx), inside a task
sent through its `tasks/result` like a question (S-23). 2026-07-28: an inline call asks
it in an MRTR round (SEP-2322 `inputRequests`), a task in its `inputRequests`, answered
with `tasks/update`; a client that did not declare `roots` gets -32021.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Final

import anyio
import pytest

from taskapp import Client, JsonRpcError, TaskApp, TaskContext, cli

pytestmark = pytest.mark.anyio

MODERN: Final = "2026-07-28"
LEGACY: Final = "2025-11-25"
ROOTS = {"roots": [{"uri": "file:///work/project", "name": "project"}, {"uri": "file:///tmp"}]}
LISTED = [["file:///work/project", "project"], ["file:///tmp", None]]

app = TaskApp("roots")


async def listed(ctx: TaskContext) -> str:
    return json.dumps([[root.uri, root.name] for root in await ctx.list_roots()])


@app.tool()
async def where_inline(ctx: TaskContext) -> str:
    """The client's roots, asked in the request."""
    return await listed(ctx)


@app.task_tool(mode="required")
async def where_task(ctx: TaskContext) -> str:
    """The client's roots, asked from a task."""
    return await listed(ctx)


def answering(reply: dict[str, Any]) -> tuple[Any, list[dict[str, Any]]]:
    calls: list[dict[str, Any]] = []

    async def handler(params: dict[str, Any]) -> dict[str, Any]:
        calls.append(params)
        return reply

    return handler, calls


async def through_a_task(client: Client) -> str:
    if client.dialect == MODERN:  # the server makes the task; the client follows it
        return (await client.call_tool("where_task")).text
    created = await client.call_tool_as_task("where_task")
    return (await client.get_task_result(created.task.task_id)).text


@pytest.mark.parametrize("dialect", [LEGACY, MODERN])
async def test_a_tool_lists_the_client_s_roots_inline_and_in_a_task(dialect: str) -> None:
    handler, calls = answering(ROOTS)
    async with Client(app, dialect=dialect, roots_handler=handler) as client:  # type: ignore[arg-type]
        assert client.dialect == dialect
        with anyio.fail_after(10):
            inline = await client.call_tool("where_inline")
            in_task = await through_a_task(client)
    assert json.loads(inline.text) == LISTED
    assert json.loads(in_task) == LISTED
    assert len(calls) == 2


async def test_without_the_roots_capability_2025_inline_is_a_tool_error() -> None:
    async with Client(app, dialect=LEGACY) as client:
        result = await client.call_tool("where_inline")
    assert result.is_error
    assert "did not declare the 'roots' capability" in result.text


async def test_without_the_roots_capability_2026_inline_is_32021() -> None:
    async with Client(app, dialect=MODERN) as client:
        with pytest.raises(JsonRpcError) as refused:
            await client.call_tool("where_inline")
    assert refused.value.code == -32021
    assert refused.value.data == {"requiredCapabilities": {"roots": {}}}


@pytest.mark.parametrize("dialect", [LEGACY, MODERN])
async def test_an_answer_without_roots_is_a_tool_error(dialect: str) -> None:
    handler, _ = answering({"roots": "everything"})
    async with Client(app, dialect=dialect, roots_handler=handler) as client:  # type: ignore[arg-type]
        result = await client.call_tool("where_inline")
    assert result.is_error
    assert result.text == "the client answered roots/list without a list of roots with a uri"


@pytest.mark.parametrize("dialect", [LEGACY, MODERN])
def test_taskapp_call_answers_with_the_current_directory_or_the_roots_given(
    dialect: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`taskapp call` declares roots: the directory it runs in, or each `--root`."""
    target = f"{Path(__file__).resolve()}:app"
    monkeypatch.chdir(tmp_path)
    assert cli.main(["call", "--dialect", dialect, target, "where_inline"]) == 0
    assert json.loads(capsys.readouterr().out) == [[tmp_path.resolve().as_uri(), tmp_path.name]]
    (tmp_path / "a").mkdir()
    roots = ["--root", "a", "--root", "/"]
    assert cli.main(["call", "--dialect", dialect, target, "where_inline", *roots]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed == [[(tmp_path / "a").resolve().as_uri(), "a"], ["file:///", ""]]


def test_a_server_at_a_url_gets_no_roots_unless_they_are_given(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The working directory names a local path: `taskapp call` does not send it to a
    server at a URL (maybe another machine) unless asked with --root."""
    # Here, not at the top: `taskapp run` loads this file by its path, as a module alone.
    from tests.test_cli_call import _free_port
    from tests.test_client_2026 import serving

    port = _free_port()
    command = [sys.executable, "-m", "taskapp", "run", f"{Path(__file__).resolve()}:app",
               "--transport", "http", "--port", str(port)]  # fmt: skip
    with serving(command, port) as url:
        assert cli.main(["call", url, "where_inline"]) == 1
        assert "did not declare the 'roots' capability" in capsys.readouterr().err
        assert cli.main(["call", url, "where_inline", "--root", "/"]) == 0
        assert json.loads(capsys.readouterr().out) == [["file:///", ""]]

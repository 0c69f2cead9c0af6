"""Elicitation and sampling inside tasks, driven by the official MCP client over stdio.

Each test starts `python -m taskapp run examples/<app>.py:app` as a subprocess and
answers its questions with the SDK's `elicitation_callback` / `sampling_callback`.
S-numbers refer to /work/shared/spec/TASKS-CHECKLIST.md.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal

import anyio
import pytest
from mcp import ClientSession, StdioServerParameters, types
from mcp.client.session import ElicitationFnT, SamplingFnT
from mcp.client.stdio import stdio_client

from .official_client import RELATED, TIMEOUT, Elicitor, Sampler, text_of, wait_status

pytestmark = [
    pytest.mark.anyio,
    # The SDK marks its task API deprecated (tasks left the core spec after 2025-11-25);
    # taskapp speaks 2025-11-25, so that API is exactly the peer to test against.
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]

REPO = Path(__file__).resolve().parent.parent
CANCELLED_TEXT = "The task was cancelled by the requestor."


def server(target: str) -> StdioServerParameters:
    args = ["-m", "taskapp", "run", target, "--log-level", "warning"]
    return StdioServerParameters(command=sys.executable, args=args, cwd=REPO)


APPROVAL = server("examples/approval.py:app")
SUMMARIZER = server("examples/summarizer.py:app")


@asynccontextmanager
async def connect(
    params: StdioServerParameters,
    *,
    elicitation: ElicitationFnT | None = None,
    sampling: SamplingFnT | None = None,
) -> AsyncIterator[ClientSession]:
    """The official client, initialized against a fresh `taskapp run` subprocess."""
    async with (
        stdio_client(params) as (read, write),
        ClientSession(
            read, write, elicitation_callback=elicitation, sampling_callback=sampling
        ) as session,
    ):
        with anyio.fail_after(TIMEOUT):
            await session.initialize()
        yield session


def related_of(params: types.RequestParams) -> Any:
    """The related-task entry of a request's `_meta` (S-16, S-31)."""
    assert params.meta is not None
    return params.meta.model_dump()[RELATED]


async def deploy(session: ClientSession) -> tuple[str, types.CallToolResult]:
    """Start `deploy` as a task, see it wait for input, then fetch its result (S-17)."""
    with anyio.fail_after(TIMEOUT):
        created = await session.experimental.call_tool_as_task(
            "deploy", {"service": "api", "version": "2.0"}
        )
        task_id = created.task.taskId
        waiting = await wait_status(session, task_id, "input_required")  # S-15
        assert waiting.statusMessage == "checking api 2.0"
        result = await session.experimental.get_task_result(task_id, types.CallToolResult)
    return task_id, result


# -- elicitation ---------------------------------------------------------------------


async def test_elicitation_inside_a_task_carries_the_related_task() -> None:
    """S-15..S-18, S-31: input_required; tasks/result delivers the question; back to work."""
    answer = types.ElicitResult(action="accept", content={"approve": True, "note": "go"})
    elicitor = Elicitor(answer)
    async with connect(APPROVAL, elicitation=elicitor) as session:
        task_id, result = await deploy(session)
        with anyio.fail_after(TIMEOUT):
            final = await session.experimental.get_task(task_id)
    assert result.isError is False
    assert text_of(result) == "Deployed api 2.0. Note: go"
    assert result.meta is not None
    assert result.meta[RELATED] == {"taskId": task_id}
    assert final.status == "completed"
    assert len(elicitor.calls) == 1
    asked = elicitor.calls[0]
    assert isinstance(asked, types.ElicitRequestFormParams)
    assert asked.message == "Deploy api 2.0 to production?"
    assert related_of(asked) == {"taskId": task_id}  # S-16, S-31
    assert asked.requestedSchema == {
        "type": "object",
        "properties": {
            "approve": {
                "type": "boolean",
                "title": "Approve",
                "description": "Go ahead with the deployment?",
            },
            "note": {
                "type": "string",
                "title": "Note",
                "description": "Anything to add",
                "default": "",
            },
        },
        "required": ["approve"],
    }


@pytest.mark.parametrize("action", ["decline", "cancel"])
async def test_a_declined_or_cancelled_question_reaches_the_result(
    action: Literal["decline", "cancel"],
) -> None:
    """The user's refusal is the tool's business: the task completes and says so."""
    elicitor = Elicitor(types.ElicitResult(action=action))
    async with connect(APPROVAL, elicitation=elicitor) as session:
        task_id, result = await deploy(session)
        with anyio.fail_after(TIMEOUT):
            final = await session.experimental.get_task(task_id)
    assert result.isError is False
    assert text_of(result) == f"Deployment of api 2.0 not approved ({action})."
    assert final.status == "completed"
    assert len(elicitor.calls) == 1


async def test_inline_elicitation_has_no_related_task() -> None:
    """An optional tool called without a task asks straight away, with no related-task."""
    elicitor = Elicitor(types.ElicitResult(action="accept", content={"name": "Ada"}))
    async with connect(APPROVAL, elicitation=elicitor) as session:
        with anyio.fail_after(TIMEOUT):
            result = await session.call_tool("ask_name", {"prompt": "Who?"})
    assert result.isError is False
    assert text_of(result) == "Hello, Ada!"
    assert len(elicitor.calls) == 1
    asked = elicitor.calls[0]
    assert asked.message == "Who?"
    assert asked.meta is None or RELATED not in asked.meta.model_dump()


async def test_cancel_while_waiting_for_input_drops_the_question() -> None:
    """A task cancelled in input_required never asks afterwards; its result says cancelled."""
    elicitor = Elicitor(types.ElicitResult(action="accept", content={"approve": True}))
    async with connect(APPROVAL, elicitation=elicitor) as session:
        with anyio.fail_after(TIMEOUT):
            created = await session.experimental.call_tool_as_task(
                "deploy", {"service": "db", "version": "1"}
            )
            task_id = created.task.taskId
            await wait_status(session, task_id, "input_required")
            cancelled = await session.experimental.cancel_task(task_id)
            assert cancelled.status == "cancelled"
            result = await session.experimental.get_task_result(task_id, types.CallToolResult)
            final = await session.experimental.get_task(task_id)
            # A round trip more: a question sent late would have arrived before its answer.
            await session.send_ping()
    assert result.isError is True
    assert text_of(result) == CANCELLED_TEXT
    assert result.meta is not None
    assert result.meta[RELATED] == {"taskId": task_id}
    assert final.status == "cancelled"
    assert elicitor.calls == []


# -- sampling ------------------------------------------------------------------------


async def test_sampling_inside_a_task() -> None:
    """`summarize` samples the client's model through tasks/result (S-16)."""
    sample = Sampler(
        types.CreateMessageResult(
            role="assistant",
            content=types.TextContent(type="text", text="cats sleep a lot"),
            model="test-model",
            stopReason="endTurn",
        )
    )

    async with connect(SUMMARIZER, sampling=sample) as session:
        with anyio.fail_after(TIMEOUT):
            created = await session.experimental.call_tool_as_task(
                "summarize", {"text": "Cats sleep sixteen hours a day."}
            )
            task_id = created.task.taskId
            await wait_status(session, task_id, "input_required")
            result = await session.experimental.get_task_result(task_id, types.CallToolResult)
            final = await session.experimental.get_task(task_id)
    assert result.isError is False
    assert text_of(result) == "summary: cats sleep a lot"
    assert final.status == "completed"
    assert len(sample.calls) == 1
    asked = sample.calls[0]
    assert asked.maxTokens == 60
    assert [m.model_dump(exclude_none=True) for m in asked.messages] == [
        {
            "role": "user",
            "content": {
                "type": "text",
                "text": "Summarize in one line: Cats sleep sixteen hours a day.",
            },
        }
    ]
    assert related_of(asked) == {"taskId": task_id}


async def test_sampling_without_the_capability_fails_the_task() -> None:
    """The SDK declares sampling only with a callback; without it the tool says what is missing."""
    async with connect(SUMMARIZER) as session:
        with anyio.fail_after(TIMEOUT):
            created = await session.experimental.call_tool_as_task("summarize", {"text": "x"})
            task_id = created.task.taskId
            result = await session.experimental.get_task_result(task_id, types.CallToolResult)
            final = await session.experimental.get_task(task_id)
    assert result.isError is True
    assert "'sampling' capability" in text_of(result)
    assert final.status == "failed"
    assert final.statusMessage is not None
    assert "'sampling' capability" in final.statusMessage

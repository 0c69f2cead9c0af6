"""Helpers shared by the interop tests that drive taskapp with the official `mcp==1.30.0`
client (stdio, HTTP, questions)."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

import anyio
from mcp import ClientSession, types
from mcp.shared.context import RequestContext

ParamsT = TypeVar("ParamsT")
AnswerT = TypeVar("AnswerT")

RELATED = "io.modelcontextprotocol/related-task"
TERMINAL = ("completed", "failed", "cancelled")
TIMEOUT = 10


def text_of(result: types.CallToolResult) -> str:
    assert len(result.content) == 1
    block = result.content[0]
    assert isinstance(block, types.TextContent)
    return block.text


def related_task_id(result: types.Result) -> Any:
    assert result.meta is not None
    return result.meta[RELATED]["taskId"]


async def wait_status(session: ClientSession, task_id: str, status: str) -> types.GetTaskResult:
    """Poll tasks/get until the task reaches `status` (or fail if it ends otherwise)."""
    with anyio.fail_after(TIMEOUT):
        while True:
            task = await session.experimental.get_task(task_id)
            if task.status == status:
                return task
            assert task.status not in TERMINAL, task
            await anyio.sleep(0.02)


class Canned(Generic[ParamsT, AnswerT]):
    """A client callback that gives one fixed answer and records what it was asked."""

    def __init__(self, answer: AnswerT) -> None:
        self.answer = answer
        self.calls: list[ParamsT] = []

    async def __call__(
        self, context: RequestContext[ClientSession, Any], params: ParamsT
    ) -> AnswerT:
        self.calls.append(params)
        await anyio.lowlevel.checkpoint()
        return self.answer


Elicitor = Canned[types.ElicitRequestParams, types.ElicitResult]  # elicitation_callback
Sampler = Canned[types.CreateMessageRequestParams, types.CreateMessageResult]  # sampling_callback

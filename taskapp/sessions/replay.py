"""Questions inside an inline call in the stateless dialect: re-run and replay.

MCP 2026-07-28 has no server-to-client requests. A tool called inline that asks the
client something (`ctx.elicit`, `ctx.sample`) is stopped at the question, and the call
answers with an `InputRequiredResult`: the question, plus a `requestState` that holds
every answer given so far. The client retries the call with the answers; the function
runs again from the top, and each question it already asked is answered from the state
instead of going to the client.

The state travels through the client, so it is signed (HMAC-SHA256) and bound to the
tool, its arguments, the caller and an expiry: a client can neither forge answers nor
move them to another call. A question is matched to its answer by its position and a
digest of what it asks, so a function that asks something else on a later run gets
asked again rather than handed a stale answer.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .. import _input
from ..errors import ClientCapabilityError, ProtocolError
from ..wire.jsonrpc import INVALID_PARAMS, JsonRpcError
from ..wire.mcp2026 import MISSING_CAPABILITY

#: How long an InputRequiredResult may wait for the client's retry.
STATE_TTL_S = 3600.0
_VERSION = "r1"


class InputNeeded(BaseException):
    """Stops a replayed function at a question the client has not answered yet.

    A BaseException, so that a tool's own `except Exception` cannot swallow it.
    """

    def __init__(self, key: str, request: dict[str, Any]) -> None:
        super().__init__(key)
        self.key = key
        self.request = request


def questions_in(exc: BaseException) -> list[InputNeeded]:
    """The questions that stopped a run: its InputNeeded, or every InputNeeded of a task
    group whose tasks asked at once. Empty when the run stopped for another reason."""
    if isinstance(exc, InputNeeded):
        return [exc]
    if isinstance(exc, BaseExceptionGroup):
        return [q for inner in exc.exceptions for q in questions_in(inner)]
    return []


class MissingCapabilityError(ClientCapabilityError, ProtocolError):
    """A question the client did not declare it can answer, in a 2026-07-28 request: the
    request fails with -32021 and the capabilities it needs ("the server MUST return a
    MissingRequiredClientCapabilityError", basic-index.mdx). Still a ClientCapabilityError,
    so a tool may catch it and ask another way."""

    def __init__(self, message: str, required: dict[str, Any]) -> None:
        ProtocolError.__init__(
            self, MISSING_CAPABILITY, f"Missing required client capability: {message}",
            {"requiredCapabilities": required},
        )  # fmt: skip


def _required(method: str, params: dict[str, Any]) -> dict[str, Any]:
    if method == "sampling/createMessage":
        return {"sampling": {}}
    if method == "roots/list":
        return {"roots": {}}
    return {"elicitation": {str(params.get("mode", "form")): {}}}


class StateError(ValueError):
    """A `requestState` that is not ours, was altered, has expired or belongs elsewhere."""


def digest(value: Any) -> str:
    data = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(data.encode()).hexdigest()[:32]


def _question_digest(method: str, params: dict[str, Any]) -> str:
    # A URL elicitation's id is drawn afresh on every run; it does not change the question.
    return digest([method, {k: v for k, v in params.items() if k != "elicitationId"}])


class StateSigner:
    """Seals and opens `requestState` with one secret key.

    Processes that serve the same clients behind a load balancer need the same key
    (`TaskApp(state_secret=...)` or `TASKAPP_STATE_SECRET`); by default each process
    draws its own, and a retry must come back to it.
    """

    def __init__(self, secret: str | bytes | None = None) -> None:
        if secret is None:
            secret = os.environ.get("TASKAPP_STATE_SECRET") or secrets.token_bytes(32)
        self._key = secret.encode() if isinstance(secret, str) else secret

    def seal(self, payload: dict[str, Any]) -> str:
        body = base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode())
        mac = hmac.new(self._key, _VERSION.encode() + b"." + body, hashlib.sha256).digest()
        return f"{_VERSION}.{body.decode()}.{base64.urlsafe_b64encode(mac).decode()}"

    def open(self, token: str) -> dict[str, Any]:
        version, _, rest = token.partition(".")
        body, _, mac = rest.partition(".")
        if version != _VERSION or not body or not mac:
            raise StateError("requestState is not one this server made")
        expected = hmac.new(self._key, f"{version}.{body}".encode(), hashlib.sha256).digest()
        # Compared as text, exactly as sealed: a lenient decode would accept variants of
        # the MAC (trailing junk after the padding) as the same state.
        if not hmac.compare_digest(base64.urlsafe_b64encode(expected), mac.encode()):
            raise StateError("requestState failed verification (altered, or another server's)")
        payload = json.loads(base64.urlsafe_b64decode(body.encode()))
        if not isinstance(payload, dict):
            raise StateError("requestState is not one this server made")
        return payload


@dataclass
class Replay:
    """The answers of one inline call, carried from round to round."""

    call: str  # digest of (tool, arguments, owner): the state fits this call only
    answers: dict[str, dict[str, Any]] = field(default_factory=dict)  # key -> {"result": ...}
    asked: dict[str, str] = field(default_factory=dict)  # key -> question digest
    count: int = 0  # questions asked in this run

    @staticmethod
    def call_digest(tool: str, arguments: dict[str, Any] | None, owner: str | None) -> str:
        return digest([tool, arguments or {}, owner])

    @classmethod
    def resume(
        cls,
        signer: StateSigner,
        call: str,
        state: str | None,
        responses: dict[str, Any] | None,
        *,
        now: float | None = None,
    ) -> Replay:
        """The replay for a call: fresh without a state, else the state's answers plus the
        new responses to the questions it was waiting on (other keys are ignored)."""
        if state is None:
            return cls(call)
        payload = signer.open(state)
        if payload.get("call") != call:
            raise StateError("requestState belongs to another call (tool, arguments or caller)")
        if float(payload.get("exp", 0)) < (time.time() if now is None else now):
            raise StateError("requestState has expired: call the tool again from the start")
        replay = cls(call, dict(payload.get("answers") or {}), dict(payload.get("asked") or {}))
        for key in payload.get("waiting") or []:
            answer = (responses or {}).get(key)
            if isinstance(answer, dict):
                replay.answers[key] = {"result": answer}
        return replay

    def answer(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """The answer to the run's next question, or InputNeeded to go and ask it."""
        key = f"q{self.count}"
        self.count += 1
        question = _question_digest(method, params)
        answer = self.answers.get(key)
        if answer is not None and self.asked.get(key) == question:
            return answer
        self.answers.pop(key, None)  # a different question at this place: ask it afresh
        self.asked[key] = question
        raise InputNeeded(key, {"method": method, "params": params})

    def seal(
        self, signer: StateSigner, waiting: Sequence[str], *, ttl_s: float = STATE_TTL_S
    ) -> str:
        """The state to send with the questions `waiting` (their keys)."""
        return signer.seal(
            {
                "call": self.call,
                "exp": round(time.time() + ttl_s, 3),
                "answers": self.answers,
                "asked": self.asked,
                "waiting": list(waiting),
            }
        )


def resume_call(
    signer: StateSigner, tool: str, arguments: dict[str, Any] | None, owner: str | None,
    params: dict[str, Any],
) -> Replay:  # fmt: skip
    """The replay of a `tools/call` round: its `requestState` and `inputResponses` read and
    checked; a bad one is the request's invalid-params error."""
    call = Replay.call_digest(tool, arguments, owner)
    state = params.get("requestState")
    responses = params.get("inputResponses")
    if state is not None and not isinstance(state, str):
        raise JsonRpcError(INVALID_PARAMS, "Invalid params: requestState must be a string")
    if responses is not None and not isinstance(responses, dict):
        raise JsonRpcError(INVALID_PARAMS, "Invalid params: inputResponses must be an object")
    try:
        return Replay.resume(signer, call, state, responses)
    except StateError as exc:
        raise JsonRpcError(INVALID_PARAMS, f"Invalid params: {exc}") from None


def input_required(
    replay: Replay, signer: StateSigner, stopped: BaseException
) -> dict[str, Any] | None:
    """The `InputRequiredResult` of a run that stopped at questions; None if it stopped for
    another reason. A group: the tool asked several questions at once from a task group."""
    asked = questions_in(stopped)
    if not asked:
        return None
    return {
        "resultType": "input_required",
        "inputRequests": {q.key: q.request for q in asked},
        "requestState": replay.seal(signer, [q.key for q in asked]),
    }


class ReplayBackend:
    """The context backend of an inline call in the stateless dialect.

    Status, progress and logs go to `inline` (the request's own notifications); a
    question is answered from the replay or stops the run with InputNeeded.
    """

    __slots__ = ("_capabilities", "_inline", "replay")

    def __init__(self, inline: Any, replay: Replay, capabilities: dict[str, Any]) -> None:
        self._inline = inline
        self.replay = replay
        self._capabilities = capabilities

    async def update_status(self, message: str) -> None:
        await self._inline.update_status(message)

    async def report_progress(
        self, progress: float, total: float | None, message: str | None
    ) -> None:
        await self._inline.report_progress(progress, total, message)

    async def log(self, level: Any, data: Any, logger: str | None) -> None:
        await self._inline.log(level, data, logger)

    async def request_input(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        # Never an inputRequest the client did not declare (mrtr.mdx).
        try:
            _input.require_capability(self._capabilities, method, params)
        except ClientCapabilityError as exc:
            raise MissingCapabilityError(str(exc), _required(method, params)) from None
        answer = self.replay.answer(method, params)
        if "error" in answer:
            raise _input.refused(method, answer["error"])
        result: dict[str, Any] = answer.get("result") or {}
        return result

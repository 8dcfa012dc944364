"""Chat completions from vLLM or any OpenAI-compatible server: N samples per prompt, in input order.

    from mmpo.engines.client import ChatClient, ChatRequest
    client = ChatClient(["http://127.0.0.1:8000/v1"], model="tiny", concurrency=8)
    reqs = [ChatRequest(pid="p1", text="How many squares?", image=pil_image, n=8, temperature=1.0,
                        top_k=50, max_tokens=512, seed=prompt_seed(0, "p1"))]
    for samples in client.imap(reqs):         # one list per request, in the order given
        samples[0].text, samples[0].truncated, samples[0].num_tokens

A request is one user turn, an image (sent as a base64 PNG data URL of the PIL image mmpo loaded, so
the server sees the pixels the HF path sees) and then the text, as `mmpo.data.chat.chat_prompt` lays it
out. `assistant_prefix` continues a partial assistant message instead (DropoutNTP: no image;
vLLM's `continue_final_message`). vLLM's extensions ride in the request body: `top_k`,
`return_token_ids` (exact completion token counts), `continue_final_message`, `add_generation_prompt`.

Requests run concurrently (`concurrency` at a time, spread over `base_urls` round robin); results come
back in input order. Connection errors, timeouts and 5xx answers are retried with exponential backoff
(the next try goes to the next server); a 4xx is an `MMPOError` naming the request's pid and the
server's message; so is an answer without `n` choices.
"""

from __future__ import annotations

import base64
import io
import itertools
import os
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from mmpo.errors import MMPOError


@dataclass(frozen=True)
class ChatRequest:
    pid: str  # names the request in errors (the record's pid)
    text: str  # the user turn's text (no chat template: the server applies the model's)
    # The stage's settings, always given by the caller (their defaults live in the stage's options).
    temperature: float
    top_k: int  # 0: off
    max_tokens: int
    image: Any = None  # a PIL image, or None for a text-only turn
    n: int = 1
    seed: int | None = None  # per request; the caller derives it as the HF path does (sample.responses.prompt_seed)
    assistant_prefix: str | None = None  # continue this partial assistant message (sent without the image)


@dataclass(frozen=True)
class Sample:
    text: str
    truncated: bool  # cut by max_tokens (finish_reason "length")
    num_tokens: int | None  # completion tokens before the end-of-sequence token; None if the server won't say
    token_ids: tuple[int, ...] | None = None  # vLLM's completion token ids (end-of-sequence token included)


class ChatClient:
    """Concurrent chat completions over one or more OpenAI-compatible servers."""

    def __init__(self, base_urls: str | Sequence[str], model: str, *, api_key_env: str | None = None,
                 concurrency: int = 8, timeout: float = 600.0, retries: int = 4, backoff: float = 1.0,
                 max_backoff: float = 30.0):
        self.base_urls = [base_urls] if isinstance(base_urls, str) else list(base_urls)
        if not self.base_urls:
            raise MMPOError("no server address given")
        if concurrency < 1 or retries < 0 or timeout <= 0:
            raise MMPOError("concurrency must be >= 1, retries >= 0 and timeout > 0")
        self.model = model
        self.concurrency = concurrency
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        key = "EMPTY"  # vLLM without --api-key accepts any key; the openai package insists on one
        if api_key_env:
            key = os.environ.get(api_key_env) or ""
            if not key:
                raise MMPOError(f"the API key variable ${api_key_env} is not set")
        openai = _openai()
        # The package's own retries are off: this client retries, so that it can name the pid and move to
        # the next server.
        self._clients = [openai.OpenAI(base_url=u.rstrip("/"), api_key=key, timeout=timeout, max_retries=0)
                         for u in self.base_urls]
        self._next = itertools.count()
        self._lock = threading.Lock()

    # -- requests --------------------------------------------------------------------------------
    def complete(self, requests: Iterable[ChatRequest]) -> list[list[Sample]]:
        """Every request's samples, in input order."""
        return list(self.imap(requests))

    def imap(self, requests: Iterable[ChatRequest]) -> Iterator[list[Sample]]:
        """Each request's samples in input order, as soon as it and those before it are done, with at
        most 4 x concurrency requests in flight (so a long input never sits in memory whole)."""
        window = 4 * self.concurrency
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="mmpo-chat") as pool:
            pending: deque[Future] = deque()
            try:
                for req in requests:
                    pending.append(pool.submit(self.request, req))
                    if len(pending) >= window:
                        yield pending.popleft().result()
                while pending:
                    yield pending.popleft().result()
            finally:
                for f in pending:
                    f.cancel()

    def request(self, req: ChatRequest) -> list[Sample]:
        """One request's samples, retried on connection errors and 5xx answers."""
        _check(req)
        with self._lock:
            first = next(self._next)
        body = self._body(req)
        openai = _openai()
        delay = self.backoff
        for attempt in range(self.retries + 1):
            i = (first + attempt) % len(self._clients)
            try:
                resp = self._clients[i].chat.completions.create(model=self.model, **body)
                return samples_from(req, resp, self.base_urls[i])
            except openai.APIStatusError as exc:
                if exc.status_code < 500:
                    raise MMPOError(f"request {req.pid}: {self.base_urls[i]} refused it ({exc.status_code}): "
                                    f"{_message(exc)}") from None
                error = f"{exc.status_code}: {_message(exc)}"
            except openai.APIConnectionError as exc:  # timeouts included
                error = f"{type(exc).__name__}: {exc}"
            if attempt < self.retries:
                time.sleep(delay)
                delay = min(delay * 2, self.max_backoff)
        raise MMPOError(f"request {req.pid}: no answer after {self.retries + 1} tries ({', '.join(self.base_urls)}); "
                        f"last error: {error}")

    def _body(self, req: ChatRequest) -> dict[str, Any]:
        """The keyword arguments of `chat.completions.create` (a subclass may send other fields)."""
        return chat_body(req)

    # -- what the servers serve ------------------------------------------------------------------
    def prompt_token_count(self, req: ChatRequest, i: int = 0) -> int:
        """How many prompt tokens server `i` reads `req` as (`usage.prompt_tokens` of a 1-token answer)."""
        body = chat_body(ChatRequest(**{**req.__dict__, "n": 1, "temperature": 0.0, "max_tokens": 1, "seed": None}))
        openai = _openai()
        try:
            resp = self._clients[i].chat.completions.create(model=self.model, **body)
        except (openai.APIStatusError, openai.APIConnectionError) as exc:
            raise MMPOError(f"request {req.pid}: {self.base_urls[i]}: {_message(exc)}") from None
        return int(resp.usage.prompt_tokens)

    def served_models(self, i: int = 0) -> list[str]:
        openai = _openai()
        try:
            return [m.id for m in self._clients[i].models.list()]
        except (openai.APIStatusError, openai.APIConnectionError) as exc:
            raise MMPOError(f"cannot list the models of {self.base_urls[i]}: {exc}") from None


def _openai() -> Any:
    try:
        import openai
    except ImportError:
        raise MMPOError("the vllm and openai engines need the package openai: pip install 'mmpo[engines]'") from None
    return openai


def _check(req: ChatRequest) -> None:
    if req.n < 1 or req.max_tokens < 1 or req.temperature < 0 or req.top_k < 0:
        raise MMPOError(f"request {req.pid}: n and max_tokens must be >= 1, temperature and top_k >= 0")
    if req.temperature == 0 and req.n > 1:
        raise MMPOError(f"request {req.pid}: greedy decoding (temperature 0) gives one sample, not {req.n}")


def image_url(image: Any) -> str:
    """A PIL image as a base64 PNG data URL (lossless: the server decodes the same pixels)."""
    buf = io.BytesIO()
    image.convert("RGB").save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def messages(req: ChatRequest) -> list[dict[str, Any]]:
    """The chat messages of a request: the user turn (image first, as mmpo.data.chat lays it out), and
    the partial assistant message of a continuation, which goes without the image."""
    if req.assistant_prefix is not None:
        return [{"role": "user", "content": [{"type": "text", "text": req.text}]},
                {"role": "assistant", "content": req.assistant_prefix}]
    content: list[dict[str, Any]] = []
    if req.image is not None:
        content.append({"type": "image_url", "image_url": {"url": image_url(req.image)}})
    content.append({"type": "text", "text": req.text})
    return [{"role": "user", "content": content}]


def template_flags(req: ChatRequest) -> dict[str, bool]:
    """How the server applies the chat template: a new assistant turn, or the partial one continued."""
    if req.assistant_prefix is not None:
        return {"add_generation_prompt": False, "continue_final_message": True}
    return {"add_generation_prompt": True, "continue_final_message": False}


def chat_body(req: ChatRequest) -> dict[str, Any]:
    """The keyword arguments of `chat.completions.create` for a request (vLLM's fields in extra_body)."""
    extra: dict[str, Any] = {"return_token_ids": True, **template_flags(req)}
    if req.top_k > 0:
        extra["top_k"] = req.top_k
    body: dict[str, Any] = {"messages": messages(req), "n": req.n, "temperature": req.temperature,
                            "max_tokens": req.max_tokens, "extra_body": extra}
    if req.seed is not None:
        body["seed"] = int(req.seed) % (1 << 63)
    return body


def samples_from(req: ChatRequest, resp: Any, url: str) -> list[Sample]:
    """The samples of one answer, in choice order; an answer without `n` choices is an error."""
    choices = sorted(resp.choices or [], key=lambda c: c.index)
    if len(choices) != req.n:
        raise MMPOError(f"request {req.pid}: {url} answered with {len(choices)} choice(s), asked for {req.n}")
    out = []
    for c in choices:
        truncated = c.finish_reason == "length"
        ids = getattr(c, "token_ids", None)
        if ids is None and isinstance(getattr(c, "model_extra", None), dict):
            ids = c.model_extra.get("token_ids")
        if ids is not None:
            ids = tuple(int(t) for t in ids)
            # mmpo counts the tokens before the end-of-sequence token, which vLLM's ids include.
            num = len(ids) - (1 if c.finish_reason == "stop" and ids else 0)
        elif req.n == 1 and getattr(resp, "usage", None) is not None:
            num = int(resp.usage.completion_tokens) - (1 if c.finish_reason == "stop" else 0)
        else:
            num = None
        out.append(Sample(text=(c.message.content or ""), truncated=truncated, num_tokens=num, token_ids=ids))
    return out


def _message(exc: Any) -> str:
    """The server's own error message (vLLM: {"error": {"message": ...}})."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])
        if isinstance(body.get("message"), str):
            return body["message"]
    return str(getattr(exc, "message", None) or exc)

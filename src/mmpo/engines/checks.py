"""Checks before the first request: the server serves the model asked for, and sees the prompt mmpo sees.

    from mmpo.engines.checks import check_served_model, check_prompt_tokens
    check_served_model(client)                                  # every base URL lists client.model
    check_prompt_tokens(client, processor, "How many squares?", image)   # same prompt token ids

Why the token check: a server applies its own copy of the chat template and its own processor (vLLM
runs another transformers release in .venv-vllm), so the prompt it feeds the model can differ from
mmpo's (`mmpo.data.chat.chat_prompt` + the processor, what the HF engine and training use) without any
error: a stale template, another image resolution, a missing newline. Samples from such a prompt are
not the model's answers to the question mmpo records. The check asks the server for its prompt token
ids (vLLM's `/tokenize`, given the same messages) and compares them with mmpo's; a mismatch is an
`MMPOError` naming the first differing position and both counts of image tokens. A server without a
tokenize endpoint is checked by the prompt token count of a 1-token request instead.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from mmpo.engines.client import ChatClient, ChatRequest, messages, template_flags
from mmpo.errors import MMPOError


def check_served_model(client: ChatClient) -> None:
    """Every server of `client` lists `client.model`; one serving something else is refused."""
    for i, url in enumerate(client.base_urls):
        names = client.served_models(i)
        if client.model not in names:
            raise MMPOError(f"{url} serves {', '.join(map(repr, names)) or 'no model'}, not {client.model!r}; "
                            "a server serving another model than asked is not used")


def mmpo_prompt_ids(processor: Any, text: str, image: Any = None, assistant_prefix: str | None = None) -> list[int]:
    """The prompt token ids mmpo's HF path feeds the model for this request (as mmpo.sample / mmpo.eval)."""
    from mmpo.data.chat import chat_prompt, encode

    if assistant_prefix is not None:  # DropoutNTP: the user turn without the image, then the partial answer
        prompt, images = chat_prompt(processor, text, image=False) + assistant_prefix, None
    else:
        prompt, images = chat_prompt(processor, text, image=image is not None), None if image is None else [image]
    return [int(t) for t in encode(processor, [prompt], images)["input_ids"][0].tolist()]


def server_prompt_ids(client: ChatClient, req: ChatRequest, i: int = 0, timeout: float = 60.0) -> list[int] | None:
    """The server's prompt token ids for `req` (vLLM's /tokenize), or None where it has no such endpoint."""
    root = client.base_urls[i].rstrip("/")
    root = root[: -len("/v1")] if root.endswith("/v1") else root
    body = json.dumps({"model": client.model, "messages": messages(req), **template_flags(req)}).encode()
    http = urllib.request.Request(f"{root}/tokenize", data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(http, timeout=timeout) as resp:  # noqa: S310 (the configured server)
            return [int(t) for t in json.loads(resp.read())["tokens"]]
    except urllib.error.HTTPError as exc:
        if exc.code in (404, 405):
            return None
        raise MMPOError(f"{root}/tokenize refused the check's prompt ({exc.code}): "
                        f"{exc.read().decode(errors='replace')[:500]}") from None
    except (urllib.error.URLError, OSError, KeyError, ValueError) as exc:
        raise MMPOError(f"cannot ask {root}/tokenize for the prompt's tokens: {exc}") from None


def check_prompt_tokens(client: ChatClient, processor: Any, text: str, image: Any = None, *,
                        assistant_prefix: str | None = None, pid: str = "token-check") -> None:
    """Every server of `client` turns this request into the prompt token ids mmpo's own path makes."""
    from mmpo.data.chat import image_token_id

    ours = mmpo_prompt_ids(processor, text, image, assistant_prefix)
    req = ChatRequest(pid=pid, text=text, image=None if assistant_prefix is not None else image,
                      assistant_prefix=assistant_prefix, n=1, temperature=0.0, top_k=0, max_tokens=1)
    try:
        img_id = image_token_id(processor)
    except (AttributeError, TypeError, ValueError):
        img_id = None
    for i, url in enumerate(client.base_urls):
        theirs = server_prompt_ids(client, req, i)
        if theirs is None:  # no tokenize endpoint: the count is what can be compared
            count = client.prompt_token_count(req, i)
            if count != len(ours):
                raise MMPOError(f"{url} reads the check's prompt as {count} tokens, mmpo as {len(ours)}: the server's "
                                "chat template or processor differs from the checkpoint's")
            continue
        if theirs != ours:
            raise MMPOError(describe_mismatch(url, theirs, ours, img_id))


def describe_mismatch(url: str, theirs: list[int], ours: list[int], image_token: int | None) -> str:
    """One line: where the server's prompt token ids first differ from mmpo's, and the image token counts."""
    at = next((k for k, (a, b) in enumerate(zip(theirs, ours)) if a != b), min(len(theirs), len(ours)))

    def tok(ids: list[int]) -> str:
        return str(ids[at]) if at < len(ids) else "end"

    images = ""
    if image_token is not None:
        images = f"; image tokens: server {theirs.count(image_token)}, mmpo {ours.count(image_token)}"
    return (f"{url} builds another prompt than mmpo for the same messages: server {len(theirs)} tokens, mmpo "
            f"{len(ours)}; first difference at position {at} (server {tok(theirs)}, mmpo {tok(ours)}){images}. "
            "The server's chat template or processor differs from the checkpoint's; refusing to sample from it")

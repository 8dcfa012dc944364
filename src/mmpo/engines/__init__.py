"""Inference engines for sampling and evaluation: vLLM or any OpenAI-compatible server, beside the HF path.

    from mmpo.engines import ChatClient, ChatRequest, VLLMServer, check_prompt_tokens, check_served_model
    with VLLMServer("models/tiny", seed=0) as server:                       # `vllm serve` on 127.0.0.1
        client = ChatClient(server.base_url, server.served_model_name, concurrency=16)
        check_served_model(client)
        check_prompt_tokens(client, processor, first_prompt_text, first_image)
        for samples in client.imap(ChatRequest(pid, text, 1.0, 50, 512, image=image, n=8, seed=s) for ...):
            ...                                                            # input order

- `server.VLLMServer`: the server as a child process (a watchdog ends its whole tree with mmpo).
- `client.ChatClient`: concurrent chat completions, retries, input-order results (`Sample`s).
- `checks`: the served model and the prompt token ids equal mmpo's own, before the first request.

`ENGINES` is the list `--engine` takes: `hf` (transformers in this process: `mmpo.sample.prefill`,
`mmpo.eval.generate`), `vllm` (a server mmpo starts), `openai` (a server already running, by URL).
Importing this package is light: no torch, no openai (imported when a client is made).
"""

from __future__ import annotations

from mmpo.engines.checks import check_prompt_tokens, check_served_model
from mmpo.engines.client import ChatClient, ChatRequest, Sample
from mmpo.engines.options import ENGINES, EngineOptions
from mmpo.engines.server import VLLMServer, find_vllm

__all__ = ["ENGINES", "EngineOptions", "ChatClient", "ChatRequest", "Sample", "VLLMServer", "check_prompt_tokens",
           "check_served_model", "find_vllm"]

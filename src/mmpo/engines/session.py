"""One engine serving one model for one stage: what `mmpo sample` and `mmpo eval` generate through.

    from mmpo.engines.session import open_model
    model, processor = open_model(opts, "models/tiny")   # an HF model, or an EngineSession (opts.engine)
    ...
    close_model(model)                                    # stops a server mmpo started; no-op for HF

An `EngineSession` starts `vllm serve` (engine `vllm`) or connects to `--base-url` (engine `openai`),
checks before the first request that the server serves the model asked for and builds the same prompt
token ids as mmpo (`mmpo.engines.checks`), and answers `ChatRequest`s in input order. The processor
is loaded here too: it checks images and prompts exactly as the HF path does, and the token check
needs it. See docs/engines.md.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from mmpo.errors import MMPOError


class EngineSession:
    """A chat client on a server serving `model_dir`, and the server when mmpo started it."""

    def __init__(self, opts: Any, model_dir: str | Path, processor: Any):
        from mmpo.engines.client import ChatClient
        from mmpo.engines.server import VLLMServer

        self.model_dir, self.processor, self.server = Path(model_dir), processor, None
        self.engine = opts.engine
        self.config = _config(model_dir, getattr(opts, "trust_remote_code", False))  # for capped_length
        self._checked: set[str] = set()
        if opts.engine == "vllm":
            self.server = VLLMServer(model_dir, served_model_name=opts.served_model, executable=opts.vllm_bin,
                                     seed=getattr(opts, "seed", 0), extra_args=list(opts.vllm_arg))
            print(f"mmpo: starting vllm serve {model_dir} (about a minute on a CPU) ...", file=sys.stderr, flush=True)
            self.server.start()
            print(f"mmpo: vllm serves {self.server.served_model_name} at {self.server.base_url} "
                  f"(ready in {self.server.startup_seconds} s)", file=sys.stderr, flush=True)
            urls, name = [self.server.base_url], self.server.served_model_name
        else:
            urls, name = list(opts.base_url), opts.served_model
        try:
            probe = ChatClient(urls, name or "", api_key_env=opts.api_key_env, concurrency=opts.concurrency)
            self.client = probe if name else ChatClient(urls, _only_model(probe), api_key_env=opts.api_key_env,
                                                        concurrency=opts.concurrency)
            self._check_model()
        except BaseException:
            self.close()
            raise

    @property
    def base_urls(self) -> list[str]:
        return list(self.client.base_urls)

    @property
    def served_model(self) -> str:
        return self.client.model

    def _check_model(self) -> None:
        """Every server lists the served model; where a server says which folder it serves (vLLM's
        `root`) and that folder is here, its weights must be --model's."""
        from mmpo.engines.checks import check_served_model
        from mmpo.models.load import weights_digest

        check_served_model(self.client)
        for i, url in enumerate(self.client.base_urls):
            root = _served_root(self.client, i)
            if root is None or not Path(root).is_dir() or Path(root).resolve() == self.model_dir.resolve():
                continue
            if weights_digest(root) != weights_digest(self.model_dir):
                raise MMPOError(f"{url} serves {root}, whose weights are not those of --model {self.model_dir}; "
                                "a server serving another model than asked is not used")

    def check_prompt(self, text: str, image: Any = None, assistant_prefix: str | None = None) -> None:
        """The server's prompt token ids for this request equal mmpo's (once per kind of request)."""
        from mmpo.engines.checks import check_prompt_tokens

        kind = "continuation" if assistant_prefix is not None else ("image" if image is not None else "text")
        if kind in self._checked:
            return
        check_prompt_tokens(self.client, self.processor, text, image, assistant_prefix=assistant_prefix)
        self._checked.add(kind)

    def text_of(self, sample: Any) -> str:
        """A sample's text decoded from its token ids by the checkpoint's tokenizer, as the HF path decodes
        (the server's own detokenizer holds back a partial UTF-8 character at the end, for one); the
        server's text where it gives no ids."""
        if sample.token_ids is None:
            return sample.text
        ids = list(sample.token_ids)[: sample.num_tokens] if sample.num_tokens is not None else list(sample.token_ids)
        return getattr(self.processor, "tokenizer", self.processor).decode(ids, skip_special_tokens=True)

    def imap(self, requests):
        return self.client.imap(requests)

    def complete(self, requests) -> list:
        return self.client.complete(requests)

    def settings(self) -> dict[str, Any]:
        """Where the answers came from (recorded beside the results, not part of their resume key)."""
        return {"engine": self.engine, "base_urls": self.base_urls, "served_model": self.served_model}

    def close(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    def __enter__(self) -> EngineSession:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _config(model_dir: str | Path, trust_remote_code: bool) -> Any:
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(str(model_dir), trust_remote_code=trust_remote_code)
    except (OSError, ValueError):
        return None


def _only_model(client: Any) -> str:
    names = client.served_models(0)
    if len(names) != 1:
        raise MMPOError(f"{client.base_urls[0]} serves {len(names)} models ({', '.join(names) or 'none'}); "
                        "name one with --served-model")
    return names[0]


def _served_root(client: Any, i: int) -> str | None:
    """The folder server `i` loaded its model from, where it says (vLLM lists it as `root`)."""
    try:
        for m in client._clients[i].models.list():
            if m.id == client.model:
                root = getattr(m, "root", None) or (getattr(m, "model_extra", None) or {}).get("root")
                return str(root) if root else None
    except Exception:  # noqa: BLE001 (a server without model details is checked by its token ids alone)
        return None
    return None


def open_model(opts: Any, model_dir: str | Path, *, device: Any = None, dtype: Any = None) -> tuple[Any, Any]:
    """(model, processor) for a generating stage: the HF model in this process, or an EngineSession."""
    from mmpo.models import load_model
    from mmpo.models.load import load_processor

    trust = getattr(opts, "trust_remote_code", False)
    if getattr(opts, "engine", "hf") == "hf":
        kw = {k: v for k, v in (("device", device), ("dtype", dtype)) if v is not None}
        return load_model(model_dir, trust_remote_code=trust, **kw)
    processor = load_processor(model_dir, trust_remote_code=trust)
    return EngineSession(opts, model_dir, processor), processor


def close_model(model: Any) -> None:
    if isinstance(model, EngineSession):
        model.close()

"""EngineOptions: how `mmpo sample` and `mmpo eval` generate (docs/engines.md).

    @dataclass
    class SampleOptions(EngineOptions): ...        # the stage gets --engine, --base-url, ... as its own flags

- `hf` (default): transformers `generate` in this process, as before.
- `vllm`: mmpo starts `vllm serve` on the stage's model (loopback, a free port) and stops it at the end.
- `openai`: a server the user started (vLLM, SGLang, LMDeploy, llama.cpp), by `--base-url`.

Only the engine and the served model's name decide results; addresses, keys, concurrency and the
executable do not, so a rerun through another server (or another port) resumes the same file.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from mmpo.errors import MMPOError
from mmpo.options import option

ENGINES = ("hf", "vllm", "openai")
# What a rerun must match to reuse lines; the rest only says how to reach the server.
ENGINE_SETTINGS = ("engine", "served_model")


@dataclass
class EngineOptions:
    engine: str = option("hf", "hf: transformers in this process; vllm: mmpo starts `vllm serve` on --model; "
                               "openai: a running OpenAI-compatible server at --base-url", choices=ENGINES)
    base_url: tuple[str, ...] = option((), "an OpenAI-compatible API root, e.g. http://node1:8000/v1 (--engine "
                                           "openai; requests are spread over every one given)", repeat=True,
                                       metavar="URL")
    served_model: str | None = option(None, "the model name the server serves (default: the only one it lists; "
                                            "with --engine vllm, the --model folder's name)")
    api_key_env: str | None = option(None, "environment variable holding the server's API key (default: none)",
                                     metavar="VAR")
    concurrency: int = option(16, "requests in flight at once (--engine vllm/openai)", low=1)
    vllm_bin: str | None = option(None, "the vllm executable (default: $MMPO_VLLM_BIN, then .venv-vllm/bin/vllm "
                                        "of this checkout, then vllm on PATH)", metavar="PATH")
    vllm_arg: tuple[str, ...] = option((), "an argument passed to `vllm serve` as is; write it with '=', e.g. "
                                           "--vllm-arg=--tensor-parallel-size=2", repeat=True, metavar="ARG")

    def check_engine(self) -> None:
        """Options that belong to another engine are refused, not ignored."""
        if isinstance(self.base_url, str):
            self.base_url = (self.base_url,)
        if isinstance(self.vllm_arg, str):
            self.vllm_arg = (self.vllm_arg,)
        self.base_url, self.vllm_arg = tuple(self.base_url), tuple(self.vllm_arg)
        given = lambda *names: [f"--{n.replace('_', '-')}" for n in names if getattr(self, n)]  # noqa: E731
        if self.engine == "hf" and given("base_url", "served_model", "api_key_env", "vllm_bin", "vllm_arg"):
            raise MMPOError(f"{', '.join(given('base_url', 'served_model', 'api_key_env', 'vllm_bin', 'vllm_arg'))} "
                            "need --engine vllm or --engine openai")
        if self.engine == "openai":
            if not self.base_url:
                raise MMPOError("--engine openai needs --base-url (the server's API root, e.g. http://host:8000/v1)")
            if given("vllm_bin", "vllm_arg"):
                raise MMPOError(f"{', '.join(given('vllm_bin', 'vllm_arg'))} only apply to --engine vllm")
            for url in self.base_url:
                if not url.startswith(("http://", "https://")):
                    raise MMPOError(f"--base-url must start with http:// or https://, got {url!r}")
        if self.engine == "vllm" and self.base_url:
            raise MMPOError("--base-url is for --engine openai; --engine vllm starts its own server")

    def engine_settings(self) -> dict:
        """The engine fields a results file records as its settings (`ENGINE_SETTINGS`)."""
        if self.engine == "hf":
            return {}
        return {name: getattr(self, name) for name in ENGINE_SETTINGS}

    def engine_fields(self) -> dict:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(EngineOptions)}


ENGINE_FIELDS = tuple(f.name for f in dataclasses.fields(EngineOptions))

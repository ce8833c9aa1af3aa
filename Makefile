# rsground — the README's verbs. Every target that needs the environment depends on the
# stamp file, so a first `make test` or `make smoke` on a fresh machine installs everything.
# No activation needed: every tool is called as .venv/bin/<tool>.

PYTHON   ?= python3
VENV     ?= .venv
BIN      := $(VENV)/bin
PY       := $(BIN)/python
PIP      := $(PY) -m pip
STAMP    := $(VENV)/.rsground-installed
PROFILE  ?= smoke
EXTRAS   ?= ml,geo,book,dev
PYTEST_ARGS ?=

# torch: CPU or CUDA (README, "torch: CPU or CUDA").
# Without a working NVIDIA driver we install the CPU build (about 0.2 GB of wheels instead of
# several GB of CUDA libraries): first from wherever pip already finds it (this machine keeps
# it on disk), else from PyTorch's CPU index. With `nvidia-smi` answering, PyPI's default
# build, which is a CUDA build on Linux. Override either variable on the command line.
HAS_NVIDIA := $(shell nvidia-smi -L >/dev/null 2>&1 && echo yes)
# torchvision only with the CUDA build: pip picks the release that matches that torch, and
# AutoProcessor then builds Qwen2.5-VL's full processor; the CPU path has no torchvision and
# uses the image-only processor (models.qwen_image_processor_only).
ifeq ($(HAS_NVIDIA),yes)
TORCH_SPEC ?= torch>=2.13
VISION_SPEC ?= torchvision
else
TORCH_SPEC ?= torch==2.13.0+cpu
VISION_SPEC ?=
endif
TORCH_CPU_INDEX ?= https://download.pytorch.org/whl/cpu

SEED     ?= 0
DOCTOR   ?=
CHAPTERS ?=
REPRODUCE_LOG ?= runs/reproduce.log

.PHONY: setup test test-slow smoke book dryrun reproduce bench lab clean help tiny-base

help:  ## list the verbs
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

setup: $(STAMP)  ## create .venv and install the project with all extras

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade "pip>=24"
	$(PIP) install --quiet "$(TORCH_SPEC)" $(if $(VISION_SPEC),"$(VISION_SPEC)") || \
	  $(PIP) install --quiet "$(TORCH_SPEC)" --extra-index-url $(TORCH_CPU_INDEX)
	$(PIP) install --quiet -e ".[$(EXTRAS)]"
	$(PY) -m rsground_lib.cli setup-jupyter
	@touch $@
	@echo "environment ready: $(VENV) ($$(du -sh $(VENV) | cut -f1))"

test: $(STAMP)  ## the fast test suite (slow tests: make test-slow)
	$(BIN)/pytest $(PYTEST_ARGS)

test-slow: $(STAMP)  ## only the slow tests (book build, fuzzing)
	$(BIN)/pytest -m slow $(PYTEST_ARGS)

smoke: $(STAMP)  ## the whole book on the CPU smoke profile, then where the HTML is
	$(BIN)/rsground book --profile smoke

book: $(STAMP)  ## the whole book on PROFILE (default smoke): make book PROFILE=full
	$(BIN)/rsground book --profile $(PROFILE)

dryrun: $(STAMP)  ## the full profile's code path on a tiny random Qwen2.5-VL, on a CPU (about 15 min on 2 cores)
	$(BIN)/rsground dryrun $(if $(CHAPTERS),--chapters $(CHAPTERS))

reproduce: $(STAMP)  ## the paper-scale run on a GPU machine: rsground doctor, then the full profile (CHAPTERS=... for some)
	$(BIN)/rsground doctor --download $(DOCTOR)
	@mkdir -p $(dir $(REPRODUCE_LOG))
	@echo "make reproduce: the log goes to $(REPRODUCE_LOG); the trainers' progress to runs/full/<chapter>/*/log.jsonl."
	@echo "  Detached: nohup make reproduce > /dev/null 2>&1 &   then: tail -f $(REPRODUCE_LOG)"
	bash -o pipefail -c '$(BIN)/rsground book --profile full $(if $(CHAPTERS),--chapters $(CHAPTERS)) 2>&1 | tee -a $(REPRODUCE_LOG)'

bench: $(STAMP)  ## benchmarks (speed, memory); prints a table, writes runs/bench/
	$(BIN)/rsground bench

tiny-base: $(STAMP)  ## regenerate checkpoints/tiny-base from SEED (two runs, about 2 h of one CPU core)
	HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1 $(BIN)/rsground tiny-base pretrain --seed $(SEED) --config configs/tiny_base/part1.json --out runs/tiny-base/part1
	HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1 $(BIN)/rsground tiny-base pretrain --seed $(SEED) --config configs/tiny_base/part2.json --out checkpoints/tiny-base
	mkdir -p checkpoints/tiny-base/part1
	cp runs/tiny-base/part1/log.jsonl runs/tiny-base/part1/metrics.json checkpoints/tiny-base/part1/
	HF_HUB_OFFLINE=1 $(BIN)/rsground tiny-base eval --checkpoint checkpoints/tiny-base

lab: $(STAMP)  ## JupyterLab on the chapters (.py files open as notebooks)
	$(BIN)/jupyter lab --notebook-dir=.

clean:  ## remove builds and runs (keeps .venv; `rm -rf .venv` for a fresh setup)
	rm -rf _build runs .pytest_cache .hypothesis .ruff_cache
	find . -name __pycache__ -type d -prune -not -path './.venv/*' -exec rm -rf {} +

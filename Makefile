# Set-up and everyday commands. `make demo` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install test demo reproduce reproduce-study reproduce-search reproduce-compare reproduce-scale-up clean

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

# The seed's four experiments at CPU scale on real data (Fashion-MNIST; `apt-get install
# dataset-fashion-mnist` or see README "Data"), sized for the 2-core machine: B0 at 32 px, 3 epochs
# per trial on class-stratified training subsets. `make -j2 reproduce` runs two experiments at a time.
# Resumable: run it again after an interruption. Reports, CSV and PNG plots are copied to
# docs/results/ (no checkpoints or models).
REPRO_DIR ?= runs/reproduce
REPRO_EPOCHS ?= 3
REPRO_IMAGES ?= 3000
REPRO_STUDY_IMAGES ?= 1500
REPRO_DATA ?= --dataset fashion-mnist
REPRO_COMMON = $(REPRO_DATA) --epochs $(REPRO_EPOCHS) --batch-size 128 --directory $(REPRO_DIR)
comma := ,
REPRO_SCALED = $(subst $() ,$(comma),$(foreach p,0 1 2 3,$(REPRO_DIR)/scaled/phi$(p).json))

reproduce: reproduce-study reproduce-search reproduce-compare reproduce-scale-up
	for project in study search compare scale-up; do \
		mkdir -p docs/results/$$project && \
		find $(REPRO_DIR)/$$project -maxdepth 1 \( -name '*.md' -o -name '*.csv' -o -name '*.png' -o -name 'best.json' \) \
			-exec cp {} docs/results/$$project/ \; ; \
	done

# Observations 2 and 3: one dimension at a time, then compound, on three confusable classes
# (t-shirt/top, pullover, shirt), like the seed's cat/deer/dog.
reproduce-study: install
	$(PY) -m tuner study --base b0 --resolution 32 --dimension all --multipliers 1.0,2.0 --classes 0,2,6 \
		--train-images $(REPRO_STUDY_IMAGES) --project-name study $(REPRO_COMMON)

# Step 1: the seed's six (alpha, beta, gamma) points on all ten classes.
reproduce-search: install
	$(PY) -m tuner search --base b0 --resolution 32 --candidates seed --tolerance 0.06 \
		--train-images $(REPRO_IMAGES) --project-name search $(REPRO_COMMON)

reproduce-compare: install
	$(PY) -m tuner compare --models b0,v2-b0,simple-cnn,resnet152 --resolution 32 --latency-batches 1,64 \
		--train-images $(REPRO_IMAGES) --project-name compare $(REPRO_COMMON)

# Step 2: the best point scaled to phi = 1, 2, 3 (phi 0 is the base) and trained alike.
reproduce-scale-up: reproduce-search
	$(PY) -m tuner scale $(REPRO_DIR)/search/best.json --phi 1,2,3 --write-configs $(REPRO_DIR)/scaled
	$(PY) -m tuner compare --models $(REPRO_SCALED) --latency-batches 1,64 \
		--train-images $(REPRO_IMAGES) --project-name scale-up $(REPRO_COMMON)

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis *.egg-info

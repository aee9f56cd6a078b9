"""KerasTuner-driven compound scaling and the studies around it: `python -m tuner` (from a clone)
or `effnet-tuner` (installed), commands search, study, compare, report and scale."""

"""Entry point of `python -m tuner` in a clone (not installed; pip users run `effnet-tuner`)."""

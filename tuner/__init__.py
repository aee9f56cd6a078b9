"""KerasTuner-driven scaling studies for effnet-keras: `python -m tuner search|report|scale`."""

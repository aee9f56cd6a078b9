"""`python -m tuner COMMAND` from a clone; the code lives in `effnet_keras.tuner` (pip users run
`effnet-tuner`)."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from effnet_keras.tuner.cli import main  # noqa: E402

raise SystemExit(main())

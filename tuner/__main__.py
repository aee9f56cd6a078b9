import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from tuner.cli import main  # noqa: E402

raise SystemExit(main())

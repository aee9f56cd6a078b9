"""`python -m effnet_keras COMMAND` (TF_CPP_MIN_LOG_LEVEL defaults to 2 in `absl_logs`, which runs first)."""

from effnet_keras.cli import main

raise SystemExit(main())

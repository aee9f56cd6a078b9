"""Train a model: `python train.py --model b3 --dataset cifar100`. See `python train.py --help`."""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from effnet_keras.train_cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())

"""The model, data, recipe and hardware flags of train.py and the tuner's search, study and compare,
defined once, and the `TrainSettings` they name."""

from __future__ import annotations

import argparse
import dataclasses

from effnet_keras.data import DATASETS, LABEL_MODES, SOURCES
from effnet_keras.data.folder import MEMORY_SHARE, TEST_FRACTION
from effnet_keras.data.images import RESIZE_POLICIES
from effnet_keras.data.spec import DATASET_FORMS, DEFAULT_IMAGE_SIZE
from effnet_keras.training.limits import allowed
from effnet_keras.training.recipe import OPTIMIZERS, RECIPE_NAMES, SCHEDULES
from effnet_keras.training.runtime import JIT, PRECISIONS, STRATEGIES
from effnet_keras.training.settings import TrainSettings

D = TrainSettings()


def add_model_arguments(p: argparse.ArgumentParser) -> None:
    """The model flags of train.py: variant, compound scaling, overrides, weights and size limits."""
    g = p.add_argument_group("model")
    g.add_argument("--model", metavar="NAME", default=D.model, help="variant (b0..b7, v2-b0..v2-l), a config JSON "
                   "file, resnet152 or simple-cnn")
    g.add_argument("--alpha", type=float, help="compound scaling: depth multiplier per phi step")
    g.add_argument("--beta", type=float, help="compound scaling: width multiplier per phi step")
    g.add_argument("--gamma", type=float, help="compound scaling: resolution multiplier per phi step")
    g.add_argument("--phi", type=float, help="compound scaling: number of doublings of the cost")
    g.add_argument("--base", metavar="NAME", help="compound scaling base variant or config JSON (default: --model)")
    g.add_argument("--scale", metavar="FILE", help="JSON with alpha/beta/gamma (and base, phi) as written by the "
                   "tuner")
    g.add_argument("--width", type=float, help="absolute width coefficient override (0.5 on b3 means 0.5)")
    g.add_argument("--depth", type=float, help="absolute depth coefficient override")
    g.add_argument("--resolution", metavar="PIXELS", type=int, help="training resolution (default: the model's own)")
    g.add_argument("--weights", metavar="imagenet|FILE", help="ImageNet weights or a weights file for the backbone "
                   "(transfer learning)")
    g.add_argument("--freeze-backbone", action="store_true", help="train only the new head; BatchNorm stays frozen")
    g.add_argument("--max-params", type=float, default=D.max_params,
                   help="refuse a model estimated to have more parameters than this")
    g.add_argument("--max-activation-gib", type=float, default=D.max_activation_gib,
                   help="refuse a model estimated to need more GiB of activations per training image")


def add_training_arguments(p: argparse.ArgumentParser) -> None:
    """Data, recipe and hardware flags: shared by train.py and the tuner's search, study and compare."""
    _data_arguments(p.add_argument_group("data"))
    _recipe_arguments(p.add_argument_group("recipe"))
    _hardware_arguments(p.add_argument_group("hardware"))
    p.add_argument("--seed", type=int, default=D.seed,
                   help=f"seeds weights, data order and splits ({allowed('--seed')})")


def require_dataset(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Exit 2 with the usage and the choices when --dataset is missing: no command trains on a data set
    it was not told (the synthetic set is `--dataset synthetic`)."""
    if args.dataset is None:
        parser.error(f"--dataset is required: {DATASET_FORMS}; --dataset synthetic gives made-up images for "
                     "demos and tests.")


def _data_arguments(g: argparse._ArgumentGroup) -> None:
    g.add_argument("--dataset", metavar="NAME", help=f"required: {', '.join(DATASETS)}; folder:PATH: your "
                   f"images, in PATH/<class>/* (a seeded {100 * TEST_FRACTION:.0f}%% of each class tests) or "
                   "PATH/train/<class>/* and "
                   "PATH/test/<class>/* (and PATH/val/<class>/*, which then validates); class names are the sorted "
                   "folder names; JPEG, PNG, BMP, GIF (first frame), WebP, TIFF; decoded images are cached (see "
                   "--data-dir); tfds:NAME: a TFDS image classification set prepared in --data-dir (read offline)")
    g.add_argument("--data-dir", metavar="DIR", help="folder with the data set's official files (CIFAR archives, "
                   "Fashion-MNIST IDX files), or TFDS data_dir; decoded arrays are cached in its effnet_keras_cache/ "
                   "(default: ~/.cache/effnet_keras/)")
    g.add_argument("--source", default=D.source, choices=SOURCES, help="where a named data set is read from: "
                   "archive (its official files: --data-dir, the Keras cache, system folders), tfds (TensorFlow "
                   "Datasets in --data-dir), auto (archive, then tfds); the synthetic set is generated")
    g.add_argument("--val-split", type=float, default=D.val_split, help="validation (best epoch, search ranking) on "
                   "a seeded, class-stratified hold-out of the training images: a fraction in (0, 1) or a number of "
                   "images; the test split is evaluated once, at the end. 0: validate on the test split (then the "
                   "test split chooses the model, and reports say so)")
    g.add_argument("--label-mode", default=D.label_mode, choices=LABEL_MODES,
                   help="cifar100: fine (100 classes) or coarse (its 20 super-classes)")
    g.add_argument("--synthetic-train", metavar="N", type=int, default=D.synthetic_train,
                   help=f"synthetic set: train images ({allowed('--synthetic-train')})")
    g.add_argument("--synthetic-test", metavar="N", type=int, default=D.synthetic_test,
                   help=f"synthetic set: test images ({allowed('--synthetic-test')})")
    g.add_argument("--train-images", metavar="N", type=int, help="train on a seeded, class-stratified subset of "
                   f"this many training images ({allowed('--train-images')}; default: all); sizes short experiments")
    g.add_argument("--classes", metavar="LABELS", help="keep only these labels or class names, relabelled 0..k-1 "
                   "in this order, e.g. 3,4,5 or cat,deer,dog")
    g.add_argument("--image-size", metavar="H[,W]", help=f"folder:PATH and tfds:NAME (images of no fixed size): "
                   f"resize images to H x W pixels, RGB (default: {DEFAULT_IMAGE_SIZE})")
    g.add_argument("--resize", choices=RESIZE_POLICIES, help="how --image-size is reached: squash (ignore the "
                   "aspect ratio, as Keras's image_dataset_from_directory), center-crop (crop the centred H:W box), "
                   "pad (fit inside, black borders) (default: squash)")
    g.add_argument("--skip-bad-images", action="store_true", help="folder:PATH: leave undecodable files out, "
                   "counted in the log and config.json (without it: stop, naming the file)")
    g.add_argument("--stream", action="store_true", help="folder:PATH: decode the files while training instead of "
                   "holding decoded images in memory (automatic when they exceed --in-memory-limit-gib)")
    g.add_argument("--in-memory-limit-gib", type=float, help=f"folder:PATH: stream when decoded images would take "
                   f"more GiB than this (default: {100 * MEMORY_SHARE:.0f}%% of physical memory)")
    g.add_argument("--expected-counts", metavar="TRAIN,TEST|any", help="images the files must hold (default: the "
                   "official counts); for copies you made yourself")


def _recipe_arguments(g: argparse._ArgumentGroup) -> None:
    g.add_argument("--epochs", type=int, default=D.epochs, help="length of the run and of its learning-rate "
                   f"schedule ({allowed('--epochs')})")
    g.add_argument("--stop-epoch", metavar="EPOCH", type=int, help="train only up to this epoch of the --epochs "
                   "schedule, then evaluate and finish; run again with a later one (or none) to continue (default: "
                   "--epochs)")
    g.add_argument("--batch-size", metavar="N", type=int, default=D.batch_size,
                   help=f"global batch, split over replicas ({allowed('--batch-size')})")
    g.add_argument("--steps-per-epoch", metavar="N", type=int, help=f"steps per epoch "
                   f"({allowed('--steps-per-epoch')}; default: one pass over train)")
    g.add_argument("--recipe", default=D.recipe, choices=RECIPE_NAMES,
                   help="sets the defaults of the flags below: scratch (small images from scratch), imagenet (the "
                   "paper's), transfer (fine-tuning --weights); auto: transfer with --weights, else scratch")
    g.add_argument("--optimizer", choices=OPTIMIZERS, help="default: the recipe's")
    g.add_argument("--lr", type=float, help="peak learning rate per 256 images (default: the recipe's; another "
                   "--optimizer than the recipe's starts from sgd 0.1, rmsprop 0.016, adamw 1e-3)")
    g.add_argument("--no-lr-scaling", dest="lr_scaling", action="store_false",
                   help="use --lr as is (without it: --lr * batch size / 256)")
    g.add_argument("--schedule", choices=SCHEDULES,
                   help="after warm-up: cosine to 0, the paper's exponential decay, or constant "
                   "(default: the recipe's)")
    g.add_argument("--warmup-epochs", metavar="EPOCHS", type=float, help=f"linear warm-up length "
                   f"({allowed('--warmup-epochs')}; default: the recipe's)")
    g.add_argument("--decay-rate", metavar="FACTOR", type=float, help="exponential schedule: factor per period "
                   "(default: 0.97)")
    g.add_argument("--decay-epochs", metavar="EPOCHS", type=float, help="exponential schedule: period "
                   "(default: 2.4)")
    g.add_argument("--weight-decay", type=float, help="decoupled weight decay (default: the recipe's; another "
                   "--optimizer starts from sgd 5e-4, rmsprop 1e-5, adamw 0.05)")
    g.add_argument("--decay-norm-and-bias", action=argparse.BooleanOptionalAction,
                   help="apply weight decay to BatchNorm scales/offsets and biases too (default: the recipe's)")
    g.add_argument("--label-smoothing", type=float, help="default: the recipe's")
    g.add_argument("--bn-momentum", type=float, help="BatchNorm moving-average momentum of the model "
                   "(default: the recipe's; imagenet/transfer keep the variant's)")
    g.add_argument("--dropout", metavar="RATE", type=float, help="dropout before the classifier (default: the "
                   "variant's)")
    g.add_argument("--drop-connect", metavar="RATE", type=float, help="stochastic depth rate of the last block "
                   "(default: 0.2)")
    g.add_argument("--augment", metavar="POLICY", default=D.augment, help="auto (the recipe's: scratch flips only "
                   "for runs of at most 10 epochs, basic beyond), none, or parts of flip, basic, randaugment, "
                   "cutout, mixup, cutmix joined by '+'")
    g.add_argument("--augment-magnitude", type=float, default=D.augment_magnitude, help="strength in [0, 1]")
    g.add_argument("--ema", metavar="DECAY", type=float, nargs="?", const=0.999, help="keep an EMA of the weights "
                   "with this decay (0.999 when given without one; default: no EMA)")
    g.add_argument("--progressive", action="store_true", help="EfficientNetV2 progressive learning: image size and "
                   "augmentation grow over --progressive-stages stages")
    g.add_argument("--progressive-stages", metavar="N", type=int, default=D.progressive_stages,
                   help=f"stages of --progressive ({allowed('--progressive-stages')}; at most one per epoch)")


def _hardware_arguments(g: argparse._ArgumentGroup) -> None:
    g.add_argument("--precision", default=D.precision, choices=PRECISIONS,
                   help="auto: mixed_float16 on GPU, mixed_bfloat16 on TPU, float32 on CPU")
    g.add_argument("--strategy", default=D.strategy, choices=STRATEGIES,
                   help="auto: MirroredStrategy when more than one GPU is visible")
    g.add_argument("--jit-compile", default=D.jit_compile, choices=JIT, help="XLA; auto: on for GPU/TPU")
    g.add_argument("--logical-cpus", metavar="N", type=int, default=D.logical_cpus,
                   help="split the CPU into N logical devices (test MirroredStrategy "
                   f"without GPUs; {allowed('--logical-cpus')})")


def settings_from_args(args: argparse.Namespace, **overrides) -> TrainSettings:
    """The TrainSettings named by parsed flags (fields without a flag keep their defaults)."""
    fields = {f.name for f in dataclasses.fields(TrainSettings)}
    return TrainSettings(**{**{k: v for k, v in vars(args).items() if k in fields}, **overrides})

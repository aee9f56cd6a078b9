"""Training recipes (coherent sets of defaults), optimizers and learning-rate schedules (keras only).

Learning rates are given per 256 images and scaled linearly with the global batch
(lr = base_lr * batch / 256) unless scaling is turned off.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import keras

OPTIMIZERS = ("sgd", "rmsprop", "adamw")
SCHEDULES = ("cosine", "exponential", "constant")
SHORT_RUN_EPOCHS = 10
"""Runs of at most this many epochs use a recipe's `augment_short` (see README "From-scratch recipe")."""
NO_DECAY_NAMES = ("gamma", "beta", "bias")
"""Variables that weight decay leaves alone: BatchNorm scale/offset and biases (matched by name)."""


@dataclass(frozen=True)
class Recipe:
    """Defaults that were measured to work together; every field has a train.py flag that overrides it.

    lr is per 256 images; warmup_epochs and decay_epochs are in epochs; bn_momentum, when set,
    replaces the model config's BatchNorm momentum (None keeps it). augment is the augmentation
    policy of runs longer than SHORT_RUN_EPOCHS, augment_short that of shorter ones.
    """

    name: str
    optimizer: str
    lr: float
    weight_decay: float
    decay_norm_and_bias: bool
    schedule: str
    warmup_epochs: float
    label_smoothing: float
    bn_momentum: float | None
    decay_rate: float = 0.97
    decay_epochs: float = 2.4
    augment: str = "basic"
    augment_short: str = "basic"

    def augment_for(self, epochs: int) -> str:
        """The augmentation policy of a run of `epochs` epochs."""
        return self.augment_short if epochs <= SHORT_RUN_EPOCHS else self.augment


RECIPES = {
    # From scratch on small images (28-96 px): see README "From-scratch recipe" for the measurements.
    "scratch": Recipe("scratch", optimizer="adamw", lr=1e-2, weight_decay=0.05, decay_norm_and_bias=False,
                      schedule="cosine", warmup_epochs=1.0, label_smoothing=0.1, bn_momentum=0.9,
                      augment_short="flip"),
    # The EfficientNet paper's ImageNet recipe (RMSProp 0.016 per 256, 5 warm-up epochs, x0.97 every 2.4).
    "imagenet": Recipe("imagenet", optimizer="rmsprop", lr=0.016, weight_decay=1e-5, decay_norm_and_bias=True,
                       schedule="exponential", warmup_epochs=5.0, label_smoothing=0.1, bn_momentum=None),
    # EfficientNetV2's CIFAR fine-tuning of ImageNet weights (RMSProp 5e-4 per 512 images).
    "transfer": Recipe("transfer", optimizer="rmsprop", lr=2.5e-4, weight_decay=1e-5, decay_norm_and_bias=True,
                       schedule="cosine", warmup_epochs=1.0, label_smoothing=0.1, bn_momentum=None),
}
RECIPE_NAMES = ("auto", *RECIPES)
OPTIMIZER_DEFAULTS = {"sgd": (0.1, 5e-4), "rmsprop": (0.016, 1e-5), "adamw": (1e-3, 0.05)}
"""(lr per 256 images, weight decay) an optimizer other than the recipe's starts from."""


def choose_recipe(name: str, pretrained: bool) -> Recipe:
    """The recipe called `name`; "auto" is "transfer" with pretrained weights, else "scratch"."""
    if name == "auto":
        name = "transfer" if pretrained else "scratch"
    if name not in RECIPES:
        raise ValueError(f"Unknown recipe {name!r}; allowed values: {', '.join(RECIPE_NAMES)}.")
    return RECIPES[name]


def customised(recipe: Recipe, **flags) -> Recipe:
    """`recipe` with each flag that is not None replacing the field of the same name.

    Another optimizer than the recipe's, given without --lr/--weight-decay, starts from that
    optimizer's standard values (OPTIMIZER_DEFAULTS), not from numbers tuned for another one.
    """
    changes = {key: value for key, value in flags.items() if value is not None}
    optimizer = changes.get("optimizer", recipe.optimizer)
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"Unknown optimizer {optimizer!r}; allowed values: {', '.join(OPTIMIZERS)}.")
    if optimizer != recipe.optimizer:
        lr, weight_decay = OPTIMIZER_DEFAULTS[optimizer]
        changes = {"lr": lr, "weight_decay": weight_decay, **changes}
    return dataclasses.replace(recipe, **changes)


@keras.saving.register_keras_serializable(package="effnet_keras")
class WarmupSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up to `peak` over `warmup_steps`, then cosine decay, exponential decay or constant.

    exponential: multiply by `decay_rate` every `decay_steps` steps (the paper: 0.97 every 2.4 epochs).
    cosine: decay to 0 at `total_steps`. Steps count optimizer updates.
    """

    def __init__(self, peak: float, total_steps: int, warmup_steps: int = 0, kind: str = "cosine",
                 decay_rate: float = 0.97, decay_steps: int = 1):
        if kind not in SCHEDULES:
            raise ValueError(f"Unknown schedule {kind!r}; allowed values: {', '.join(SCHEDULES)}.")
        self.peak, self.total_steps, self.warmup_steps = float(peak), int(total_steps), int(warmup_steps)
        self.kind, self.decay_rate, self.decay_steps = kind, float(decay_rate), max(1, int(decay_steps))

    def __call__(self, step):
        step = keras.ops.cast(step, "float32")
        warm = self.peak * (step + 1.0) / max(1, self.warmup_steps)
        after = keras.ops.maximum(step - self.warmup_steps, 0.0)
        if self.kind == "cosine":
            span = max(1, self.total_steps - self.warmup_steps)
            decayed = 0.5 * self.peak * (1.0 + keras.ops.cos(math.pi * keras.ops.minimum(after / span, 1.0)))
        elif self.kind == "exponential":
            decayed = self.peak * keras.ops.power(self.decay_rate, keras.ops.floor(after / self.decay_steps))
        else:
            decayed = keras.ops.convert_to_tensor(self.peak)
        return keras.ops.where(step < self.warmup_steps, warm, decayed)

    def get_config(self) -> dict:
        return {"peak": self.peak, "total_steps": self.total_steps, "warmup_steps": self.warmup_steps,
                "kind": self.kind, "decay_rate": self.decay_rate, "decay_steps": self.decay_steps}


def scaled_lr(base_lr: float, batch_size: int, scale: bool = True) -> float:
    """The learning rate for a global batch: base_lr * batch / 256 when `scale`."""
    return base_lr * batch_size / 256 if scale else base_lr


def make_optimizer(name: str, schedule: WarmupSchedule, weight_decay: float, ema: float | None = None,
                   decay_norm_and_bias: bool = True):
    """SGD (momentum 0.9, Nesterov), RMSProp (rho 0.9, momentum 0.9, eps 1e-3) or AdamW.

    weight_decay: decoupled decay per step (times the learning rate); with `decay_norm_and_bias`
        False it skips BatchNorm scales/offsets and biases (NO_DECAY_NAMES).
    ema: keep an exponential moving average of the weights with this decay; Keras writes the
        averaged weights into the model at the end of training.
    """
    common = {"learning_rate": schedule, "weight_decay": weight_decay or None}
    if ema:
        common.update(use_ema=True, ema_momentum=ema)
    makers = {
        "sgd": lambda: keras.optimizers.SGD(momentum=0.9, nesterov=True, **common),
        "rmsprop": lambda: keras.optimizers.RMSprop(rho=0.9, momentum=0.9, epsilon=1e-3, **common),
        "adamw": lambda: keras.optimizers.AdamW(**common),
    }
    if name not in makers:
        raise ValueError(f"Unknown optimizer {name!r}; allowed values: {', '.join(OPTIMIZERS)}.")
    optimizer = makers[name]()
    if weight_decay and not decay_norm_and_bias:
        optimizer.exclude_from_weight_decay(var_names=list(NO_DECAY_NAMES))
    return optimizer

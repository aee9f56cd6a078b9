"""The training recipe's optimizer, learning-rate schedules and loss (keras only).

Learning rates are given per 256 images and scaled linearly with the global batch
(lr = base_lr * batch / 256) unless scaling is turned off.
"""

from __future__ import annotations

import math

import keras

OPTIMIZERS = ("sgd", "rmsprop", "adamw")
SCHEDULES = ("cosine", "exponential", "constant")
# Per-256-image learning rate and weight decay per optimizer: SGD for CIFAR from scratch,
# RMSProp as in the EfficientNet paper (0.016, 1e-5), AdamW as commonly fine-tuned.
DEFAULT_LR = {"sgd": 0.1, "rmsprop": 0.016, "adamw": 1e-3}
DEFAULT_WEIGHT_DECAY = {"sgd": 5e-4, "rmsprop": 1e-5, "adamw": 0.05}


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


def make_optimizer(name: str, schedule: WarmupSchedule, weight_decay: float, ema: float | None = None):
    """SGD (momentum 0.9, Nesterov), RMSProp (rho 0.9, momentum 0.9, eps 1e-3) or AdamW.

    `ema`: keep an exponential moving average of the weights with this decay; Keras writes the
    averaged weights into the model at the end of training.
    """
    common = {"learning_rate": schedule, "weight_decay": weight_decay or None}
    if ema:
        common.update(use_ema=True, ema_momentum=ema)
    if name == "sgd":
        return keras.optimizers.SGD(momentum=0.9, nesterov=True, **common)
    if name == "rmsprop":
        return keras.optimizers.RMSprop(rho=0.9, momentum=0.9, epsilon=1e-3, **common)
    if name == "adamw":
        return keras.optimizers.AdamW(**common)
    raise ValueError(f"Unknown optimizer {name!r}; allowed values: {', '.join(OPTIMIZERS)}.")

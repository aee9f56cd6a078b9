"""The training recipe: one function, `train(settings)`, used by train.py and every tuner trial.

A run lives in one directory (see `rundir`): config.json (every resolved setting, versions,
device), history.csv, TensorBoard logs, checkpoints/ (model + optimizer of the last two epochs,
for resume), model.keras (best by val_accuracy; raw uint8 [B, H, W, C] of the data set's image shape
in, float32 probabilities out), metrics.json and curves.png.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import platform
import sys
from collections.abc import Callable
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from effnet_keras.data import Dataset, load_dataset, make_pipeline
from effnet_keras.data.spec import dataset_slug
from effnet_keras.models.baselines import build_baseline
from effnet_keras.models.builder import build_model, head_dtype
from effnet_keras.models.flops import count_macs
from effnet_keras.tables import markdown_table
from effnet_keras.training import runtime
from effnet_keras.training.augment import build_augmenter, grey_to_rgb, resize_layer
from effnet_keras.training.errors import TrainingError, UsageError
from effnet_keras.training.inputs import read_inputs
from effnet_keras.training.plan import ModelPlan, RunPlan, plan_run
from effnet_keras.training.recipe import WarmupSchedule, make_optimizer, scaled_lr
from effnet_keras.training.recorder import RunRecorder
from effnet_keras.training.rundir import RunDir, RunState, choose_run_dir, load_checkpoint, verify_checkpoints
from effnet_keras.training.settings import TrainSettings, check_settings, dataset_arguments


def build_classifier(s: TrainSettings, plan: ModelPlan, num_classes: int, input_shape: tuple,
                     weights: str | None) -> keras.Model:
    """The network on float 0..255 images of `input_shape`: EfficientNet, transfer head or baseline."""
    if plan.baseline:
        return build_baseline(plan.baseline, num_classes, input_shape, dropout=s.dropout, bn_momentum=plan.bn_momentum)
    if not weights:
        return build_model(plan.config, num_classes=num_classes, input_shape=input_shape, dropout_rate=s.dropout,
                           drop_connect_rate=s.drop_connect)
    backbone = build_model(plan.config, include_top=False, pooling="avg", input_shape=input_shape, weights=weights,
                           drop_connect_rate=s.drop_connect, name=f"efficientnet-{plan.name}-backbone")
    backbone.trainable = not s.freeze_backbone
    inputs = keras.Input(input_shape, name="image")
    x = backbone(inputs, training=False if s.freeze_backbone else None)  # frozen: BatchNorm in inference mode
    x = keras.layers.Dropout(plan.config["dropout"] if s.dropout is None else s.dropout, name="top_dropout")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="predictions", dtype=head_dtype())(x)
    return keras.Model(inputs, outputs, name=f"efficientnet-{plan.name}-transfer")


def resized(classifier: keras.Model, image_shape: tuple[int, int, int], resolution: int, name: str) -> keras.Model:
    """Float raw images [B, *image_shape] (0..255) -> resized to `resolution` px and, when grey,
    repeated into three channels on the device -> classifier."""
    image = keras.Input(image_shape, name="image")
    x = resize_layer(resolution)(image)
    if image_shape[-1] == 1:
        x = grey_to_rgb(x)
    return keras.Model(image, classifier(x), name=name)


def serving_model(core: keras.Model, name: str) -> keras.Model:
    """Raw uint8 [B, H, W, C] (the core's input shape) -> float32 probabilities; what model.keras
    and the SavedModel hold."""
    raw = keras.Input(core.input_shape[1:], dtype="uint8", name="raw_image")
    return keras.Model(raw, core(raw), name=name)


class Trainer(keras.Model):
    """Trains `train_core` and validates `eval_core` (the same weights, maybe another resolution).

    Labels arrive one-hot (see `one_hot_batches`); augmentation (flip, translate, RandAugment,
    cutout, mixup/cutmix) runs on the device as Keras layers inside the train step only, so no
    exported model contains it.
    """

    def __init__(self, train_core: keras.Model, eval_core: keras.Model, augmenter: keras.layers.Layer, **kwargs):
        super().__init__(**kwargs)
        self.train_core, self.eval_core, self.augmenter = train_core, eval_core, augmenter

    def call(self, images, training=False):
        return (self.train_core if training else self.eval_core)(images, training=training)

    def train_step(self, data):
        images, labels = data
        out = self.augmenter({"images": keras.ops.cast(images, "float32"), "labels": labels}, training=True)
        return super().train_step((out["images"], out["labels"]))


def one_hot_batches(dataset: tf.data.Dataset, num_classes: int) -> tf.data.Dataset:
    """(uint8 images, int labels) batches -> (uint8 images, float32 one-hot labels [B, C])."""
    return dataset.map(lambda x, y: (x, tf.one_hot(y, num_classes)), num_parallel_calls=tf.data.AUTOTUNE)


def _versions() -> dict:
    from effnet_keras import __version__

    return {"python": platform.python_version(), "tensorflow": tf.__version__, "keras": keras.__version__,
            "numpy": np.__version__, "effnet_keras": __version__}


def _device_info(device: str) -> dict:
    gpus = [tf.config.experimental.get_device_details(g).get("device_name", g.name)
            for g in tf.config.list_physical_devices("GPU")]
    return {"accelerator": device, "gpus": gpus, "cpu_count": os.cpu_count(), "platform": platform.platform()}


@dataclass(frozen=True)
class Built:
    """A run's strategy, its data and what is built from them: the step count, the peak
    learning rate, the classifier (float 0..255 images of the final size or, progressive, any
    size), its evaluation and serving wrappers (see `resized`, `serving_model`) and optimizer."""

    strategy: tf.distribute.Strategy
    data: Dataset
    steps: int
    lr: float
    classifier: keras.Model
    eval_core: keras.Model
    serving: keras.Model
    optimizer: keras.optimizers.Optimizer
    macs: int
    params: int


def train(s: TrainSettings, log=print, load: Callable[..., Dataset] = load_dataset) -> dict:
    """Train (or resume) one run and return its metrics dict (also written to metrics.json).

    `load` takes `load_dataset`'s keyword arguments (the tuner passes one that loads each data set
    once per process).

    Args:
        s: every setting of the run (`train.py`'s flags; `TrainSettings()` holds their defaults).
        log (Callable[[str], None]): called with each progress line.
        load: the data loader, called with `load_dataset`'s keyword arguments.

    Returns:
        The run's metrics (`best_val_accuracy`, `test_accuracy`, `params`, `macs`, `mean_step_ms`,
        ...), as written to `metrics.json` in the run directory.

    Raises:
        UsageError: before any training, for bad settings, a run directory another command holds
            or one whose state or checkpoints do not verify.
        TrainingError: the loss diverged (NaN/Inf).

    Example:
        >>> from effnet_keras.training.loop import train
        >>> from effnet_keras.training.settings import TrainSettings
        >>> metrics = train(TrainSettings(model="simple-cnn", dataset="synthetic", epochs=1,
        ...                               output_dir="runs/api-demo"))
        >>> 0.0 <= metrics["test_accuracy"] <= 1.0
        True
    """
    plan, strategy = plan_and_start(s, log)
    with contextlib.ExitStack() as held:  # the run directory's lock, until training ends or fails
        run, state = open_run(plan, held, log)
        if state.complete:
            log(f"Run {run.path} is already complete ({state.epochs_done} epochs of {s.epochs}); pass --restart to "
                "train again" + (", or a later --stop-epoch to continue." if state.epochs_done < s.epochs else "."))
            return run.read_json(run.metrics_file)
        built = build(plan, strategy, run, state, load(**dataset_arguments(s)), log)
        run.write_json(run.config_file, run_record(plan, built))
        fit_stages(plan, run, state, built, log)
        metrics = finish(plan, run, state, built)
        if s.export is not None:
            from effnet_keras.training.export import export_run

            export_run(run.path, s.export or None)
    log(summary_table(metrics))
    return metrics


def plan_and_start(s: TrainSettings, log) -> tuple[RunPlan, tf.distribute.Strategy]:
    """Check the flags, read the files they name, expose --logical-cpus, plan the run for this
    machine's device and start its tf.distribute strategy; UsageError with what to change."""
    resolved = check_settings(s)
    inputs = read_inputs(s)
    runtime.split_host_cpu(s.logical_cpus)  # before anything initialises TensorFlow's devices
    plan = plan_run(resolved, inputs, runtime.accelerator())
    for note in plan.notes:
        log(note)
    try:
        strategy = runtime.make_strategy(plan.strategy)
    except ValueError as e:
        raise UsageError(str(e)) from None
    replicas = strategy.num_replicas_in_sync
    if s.batch_size % replicas:
        raise UsageError(f"--batch-size {s.batch_size} is not divisible by the {replicas} replicas; use a multiple "
                         f"of {replicas} (the global batch is split evenly).")
    return plan, strategy


def open_run(plan: RunPlan, held: contextlib.ExitStack, log) -> tuple[RunDir, RunState]:
    """Choose the run directory, take its lock (held until `held` closes) and read its state: a new
    one, or the saved one cut back to its newest checkpoint that verifies."""
    s = plan.settings
    run = choose_run_dir(s.output_dir, s.runs_root, f"{plan.model.name}-{dataset_slug(s.dataset)}", s.fingerprint(),
                         s.restart, log)
    if not run.path.exists():
        held.callback(run.discard_if_unused)  # runs after the lock is released
    run.prepare()
    held.enter_context(run.lock())
    state = None if s.restart else run.read_state(log)
    if state is None:
        return run, RunState(s.fingerprint())
    if state.fingerprint != s.fingerprint():
        raise UsageError(f"{run.path} holds a run with different settings; pass --restart to overwrite it or "
                         "another --output-dir.")
    if state.complete and state.epochs_done < plan.stop_epoch:
        state.complete = False  # stopped early (--stop-epoch): continue from its last checkpoint
    if not state.complete:
        verify_checkpoints(run, state, log)
    return run, state


def build(plan: RunPlan, strategy: tf.distribute.Strategy, run: RunDir, state: RunState, data: Dataset,
          log) -> Built:
    """Check the data against the batch, then build the models and optimizer under `strategy`,
    restoring the state's checkpoint if any."""
    s, model = plan.settings, plan.model
    if len(data.x_train) < s.batch_size:
        replicas = strategy.num_replicas_in_sync
        largest = len(data.x_train) // replicas * replicas
        raise UsageError(f"--batch-size {s.batch_size} is larger than the {len(data.x_train)} training images, so an "
                         f"epoch would have no step; use --batch-size {largest} or less, or more training images.")
    keras.utils.set_random_seed(s.seed)
    runtime.set_precision(plan.precision)
    steps = s.steps_per_epoch or math.ceil(len(data.x_train) / s.batch_size)
    recipe = plan.recipe
    lr = scaled_lr(recipe.lr, s.batch_size, s.lr_scaling)
    schedule = WarmupSchedule(lr, total_steps=s.epochs * steps, warmup_steps=int(recipe.warmup_epochs * steps),
                              kind=recipe.schedule, decay_rate=recipe.decay_rate,
                              decay_steps=int(recipe.decay_epochs * steps))
    final_shape = (model.resolution, model.resolution, 3)
    with strategy.scope():
        classifier = build_classifier(s, model, data.num_classes, (None, None, 3) if s.progressive else final_shape,
                                      s.weights)
        eval_core = resized(classifier, data.image_shape, model.resolution, f"{model.name}-core")
        serving = serving_model(eval_core, f"{model.name}-{model.resolution}px")
        optimizer = make_optimizer(recipe.optimizer, schedule, recipe.weight_decay, s.ema, recipe.decay_norm_and_bias)
        if state.checkpoint:
            load_checkpoint(run.checkpoints, state.checkpoint, classifier, optimizer)
            log(f"Resuming {run.path} from epoch {state.epochs_done} of {s.epochs} (--restart starts over).")
    counted = classifier if not s.progressive else build_classifier(s, model, data.num_classes, final_shape, None)
    return Built(strategy, data, steps, lr, classifier, eval_core, serving, optimizer, count_macs(counted),
                 classifier.count_params())


def run_record(plan: RunPlan, built: Built) -> dict:
    """config.json: every resolved setting, the data, the model's size, versions and device."""
    s, data = plan.settings, built.data
    return {
        "command": sys.argv, "settings": dataclasses.asdict(s), "model_name": plan.model.name,
        "model_config": plan.model.config, "resolution": plan.model.resolution, "image_shape": data.image_shape,
        "stages": [dataclasses.asdict(st) for st in plan.stages], "dataset": data.name, "data_source": data.source,
        "class_names": data.class_names, "num_classes": data.num_classes, "train_images": len(data.x_train),
        "decoding": dataclasses.asdict(data.decoding) if data.decoding else None,
        "val_images": len(data.x_val), "test_images": len(data.x_test), "selected_on": selected_on(data),
        "precision": plan.precision, "strategy": type(built.strategy).__name__,
        "replicas": built.strategy.num_replicas_in_sync, "jit_compile": plan.jit, "augment": plan.augment,
        "learning_rate": built.lr,
        "recipe": dataclasses.asdict(plan.recipe), "steps_per_epoch": built.steps, "params": built.params,
        "macs": built.macs, "versions": _versions(), "device": _device_info(plan.device)}


def fit_stages(plan: RunPlan, run: RunDir, state: RunState, built: Built, log=print) -> None:
    """Train the stages not yet done, recording every epoch; TrainingError when the loss diverges."""
    s, model, data = plan.settings, plan.model, built.data
    train_ds = one_hot_batches(make_pipeline(data.x_train, data.y_train, s.batch_size, training=True, seed=s.seed,
                                             drop_remainder=True, decoding=data.pipeline_decoding).repeat(),
                               data.num_classes)
    val_ds = one_hot_batches(make_pipeline(data.x_val, data.y_val, s.batch_size, training=False,
                                           decoding=data.pipeline_decoding), data.num_classes)
    recorder = RunRecorder(run, state, built.classifier, built.serving, s.batch_size, built.steps,
                           f"{model.name} on {data.name}")
    for stage in plan.stages:
        if state.epochs_done >= min(stage.end, plan.stop_epoch):
            continue
        if s.progressive:
            log(f"Progressive stage: epochs {stage.start + 1}-{stage.end} at {stage.resolution}px, "
                f"augmentation magnitude {stage.magnitude:.2f}, dropout {stage.dropout:.2f}")
            for layer in built.classifier.layers:
                if layer.name == "top_dropout":
                    layer.rate = stage.dropout
        with built.strategy.scope():
            train_core = built.eval_core if stage.resolution == model.resolution else resized(
                built.classifier, data.image_shape, stage.resolution, f"{model.name}-core-{stage.resolution}px")
            trainer = Trainer(train_core, built.eval_core, build_augmenter(plan.augment, stage.magnitude, seed=s.seed))
            if not built.optimizer.built:  # built here, not in the first traced step, which would trace twice
                built.optimizer.build(built.classifier.trainable_variables)
            trainer.compile(optimizer=built.optimizer,
                            loss=keras.losses.CategoricalCrossentropy(label_smoothing=plan.recipe.label_smoothing),
                            metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")], jit_compile=plan.jit)
        trainer.fit(train_ds, validation_data=val_ds, epochs=min(stage.end, plan.stop_epoch),
                    initial_epoch=state.epochs_done,
                    steps_per_epoch=built.steps, shuffle=False, verbose=1 if sys.stdout.isatty() else 2,
                    callbacks=[recorder, keras.callbacks.TensorBoard(str(run.logs), profile_batch=0)])
        if recorder.diverged_epoch is not None:
            raise TrainingError(
                f"The loss became NaN/Inf in epoch {recorder.diverged_epoch}; training stopped. "
                + (f"The last good checkpoint (epoch {state.epochs_done}, {run.checkpoints / state.checkpoint}.*) "
                   "and model.keras are kept; " if state.checkpoint else
                   "No epoch had completed, so nothing was saved; ")
                + "lower --lr, add --warmup-epochs, or use --precision float32, then run again.")


def finish(plan: RunPlan, run: RunDir, state: RunState, built: Built) -> dict:
    """Evaluate the model of the best validation epoch once on the test split, write metrics.json and
    mark the run complete."""
    data = built.data
    best = keras.models.load_model(run.model_file)
    best.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    _, test_accuracy = best.evaluate(make_pipeline(data.x_test, data.y_test, plan.settings.batch_size,
                                                   training=False, decoding=data.pipeline_decoding), verbose=0)
    rows = state.rows
    timed = [r for r in rows if not r.get("includes_tracing")] or rows  # see RunRecorder
    metrics = {
        "model": plan.model.name, "dataset": data.name, "resolution": plan.model.resolution, "epochs": len(rows),
        "best_val_accuracy": state.best_val_accuracy, "best_epoch": state.best_epoch,
        "final_val_accuracy": rows[-1].get("val_accuracy"), "best_train_accuracy": max(r["accuracy"] for r in rows),
        "test_accuracy": float(test_accuracy), "selected_on": selected_on(data), "train_images": len(data.x_train),
        "val_images": len(data.x_val), "test_images": len(data.x_test), "params": built.params, "macs": built.macs,
        "mean_step_ms": float(np.mean([r["step_ms"] for r in timed])),
        "images_per_second": float(np.mean([r["images_per_second"] for r in timed])),
        "train_wall_seconds": float(sum(r["epoch_seconds"] for r in rows)),
        "run_dir": str(run.path),
    }
    run.write_json(run.metrics_file, metrics)
    state.complete = True
    run.write_state(state)
    return metrics


def selected_on(data: Dataset) -> str:
    """What chose the best epoch: "validation" (held out of the training images) or "test" (--val-split 0)."""
    return "test" if data.selected_on_test else "validation"


def summary_table(metrics: dict) -> str:
    """The end-of-run summary as a Markdown table."""
    fmt = {"best_val_accuracy": "{:.2%}", "final_val_accuracy": "{:.2%}", "best_train_accuracy": "{:.2%}",
           "test_accuracy": "{:.2%}", "params": "{:,}", "macs": "{:,}", "mean_step_ms": "{:.1f}",
           "images_per_second": "{:.1f}", "train_wall_seconds": "{:.1f}"}
    return markdown_table(["metric", "value"], [
        [key, fmt[key].format(value) if key in fmt and value is not None else str(value)]
        for key, value in metrics.items()])

"""Where training runs: precision policy, tf.distribute strategy and XLA, chosen once per run."""

from __future__ import annotations

import os

import keras
import tensorflow as tf

from effnet_keras.training.errors import UsageError

PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")
STRATEGIES = ("auto", "default", "mirrored", "multiworker", "tpu")
JIT = ("auto", "on", "off")


def split_host_cpu(count: int) -> None:
    """Expose the host CPU as `count` logical devices (to test MirroredStrategy without GPUs).

    Must run before TensorFlow initialises its devices.
    """
    if count > 1:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * count)


def accelerator() -> str:
    """"tpu", "gpu" or "cpu": the kind of device the run trains on."""
    if tf.config.list_logical_devices("TPU"):
        return "tpu"
    return "gpu" if tf.config.list_physical_devices("GPU") else "cpu"


def make_strategy(name: str) -> tf.distribute.Strategy:
    """auto: MirroredStrategy over all GPUs when more than one, else the default strategy.

    mirrored uses every GPU, or every logical CPU device when there is no GPU; multiworker reads
    TF_CONFIG; tpu connects to the TPU named by TPU_NAME (or the local one).
    """
    gpus = tf.config.list_logical_devices("GPU")
    if name == "auto":
        name = "mirrored" if len(gpus) > 1 else "default"
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        devices = None if gpus else [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices=devices)
    if name == "multiworker":
        if "TF_CONFIG" not in os.environ:
            raise UsageError("--strategy multiworker needs the TF_CONFIG environment variable describing the "
                             "cluster and this worker's task (see the README).")
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "tpu":
        try:
            resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=os.environ.get("TPU_NAME", "local"))
            tf.config.experimental_connect_to_cluster(resolver)
            tf.tpu.experimental.initialize_tpu_system(resolver)
        except (ValueError, tf.errors.OpError) as e:
            raise UsageError(f"--strategy tpu: no TPU found ({e}). Run on a TPU VM or set TPU_NAME.") from None
        return tf.distribute.TPUStrategy(resolver)
    raise ValueError(f"Unknown strategy {name!r}; allowed values: {', '.join(STRATEGIES)}.")


def resolve_precision(name: str, device: str) -> str:
    """auto: mixed_float16 on GPU, mixed_bfloat16 on TPU, float32 on CPU."""
    if name not in PRECISIONS:
        raise ValueError(f"Unknown precision {name!r}; allowed values: {', '.join(PRECISIONS)}.")
    if name != "auto":
        return name
    return {"gpu": "mixed_float16", "tpu": "mixed_bfloat16"}.get(device, "float32")


def resolve_jit(name: str, device: str) -> bool:
    """auto: XLA on accelerators (benchmark depthwise-heavy models both ways), off on CPU."""
    if name not in JIT:
        raise ValueError(f"Unknown --jit-compile {name!r}; allowed values: {', '.join(JIT)}.")
    return name == "on" or (name == "auto" and device != "cpu")


def set_precision(policy: str) -> None:
    """Set the global Keras dtype policy; Keras adds loss scaling for mixed_float16 at compile."""
    keras.config.set_dtype_policy(policy)

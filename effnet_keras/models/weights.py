"""Loading weights into built models: official ImageNet files or a local weights file.

Official files are fetched through `keras.utils.get_file` from the addresses keras.applications
uses, then loaded into our model, so the Keras 3.11+ keras.applications regression (a list-valued
`Rescaling` that collapses the channel axis, keras issues 21529/21692) is never on our path.
"""

from __future__ import annotations

import os
from typing import Any, Mapping

import keras
import numpy as np

IMAGENET_STDDEV = (0.229, 0.224, 0.225)


class WeightsError(ValueError):
    """A weights argument or file that cannot be used, with what to do about it."""


def check_weights_arguments(weights: str, include_top: bool, num_classes: int) -> None:
    """Fail before building when `weights` cannot fit the requested model."""
    if weights == "imagenet":
        if include_top and num_classes != 1000:
            raise WeightsError(
                f"weights='imagenet' with include_top=True needs num_classes=1000, got {num_classes}. "
                "For transfer learning pass include_top=False (and pooling='avg') and add your own head.")
        return
    if not isinstance(weights, (str, os.PathLike)) or not os.path.isfile(weights):
        raise WeightsError(f"weights={weights!r}: not 'imagenet', None, or an existing weights file "
                           "(e.g. saved with model.save_weights('x.weights.h5')).")


def imagenet_weights_url(config: Mapping[str, Any], include_top: bool) -> tuple[str, str, str]:
    """(file name, URL, md5) of the official keras.applications ImageNet file for an unscaled variant."""
    from keras.src.applications import efficientnet, efficientnet_v2

    name = config["name"]
    if config["family"] == "v1":
        module, key, file_stem = efficientnet, name, f"efficientnet{name}"
    else:
        suffix = name[3:]  # "b0" or "s"; Keras keys the S/M/L hashes as "-s", "-m", "-l"
        module, key, file_stem = efficientnet_v2, suffix if suffix[0] == "b" else f"-{suffix}", f"efficientnetv2-{suffix}"
    if key not in module.WEIGHTS_HASHES or "alpha" in config:
        raise WeightsError(f"No official ImageNet weights exist for config {name!r}; they exist for the "
                           "unmodified variants b0..b7 and v2-b0..v2-l. Use weights=None or a weights file.")
    file_name = file_stem + (".h5" if include_top else "_notop.h5")
    return file_name, module.BASE_WEIGHTS_PATH + file_name, module.WEIGHTS_HASHES[key][0 if include_top else 1]


def fetch_imagenet_weights(config: Mapping[str, Any], include_top: bool) -> str:
    """Download (or find in ~/.keras/models) the official file; a clear error when offline."""
    file_name, url, md5 = imagenet_weights_url(config, include_top)
    try:
        return keras.utils.get_file(file_name, url, cache_subdir="models", file_hash=md5)
    except Exception as e:
        raise WeightsError(
            f"Could not fetch the ImageNet weights for {config['name']!r} from {url} ({type(e).__name__}: {e}). "
            f"Offline? Download that file on a machine with network and either put it in ~/.keras/models/"
            f"{file_name} or pass its path: build_model({config['name']!r}, weights='/path/to/{file_name}') "
            f"(train.py --weights /path/to/{file_name}).") from None


def load_weights(model: keras.Model, config: Mapping[str, Any], weights: str, include_top: bool) -> None:
    """Load `weights` ("imagenet" or a path to .weights.h5 / legacy .h5) into a built model."""
    path = fetch_imagenet_weights(config, include_top) if weights == "imagenet" else os.fspath(weights)
    try:
        model.load_weights(path)
    except Exception as e:
        reason = " ".join(str(e).split())[:300]
        raise WeightsError(
            f"Weights file {path!r} does not fit model {model.name!r} ({type(e).__name__}: {reason}...). It must come "
            "from the same variant with the same include_top, num_classes and include_preprocessing "
            "(for example keras.applications.EfficientNetB0(weights=None).save_weights('b0.weights.h5')).") from None
    _fix_imagenet_normalization(model)


def _fix_imagenet_normalization(model: keras.Model) -> None:
    """Make Normalization layers use their loaded statistics, squaring Keras' V1 ImageNet std-devs.

    The official V1 files keep std (not std^2) in the `variance` slot; keras.applications compensates
    with an extra list-valued Rescaling layer. We correct the statistic instead, so the graph is the
    same for every choice of weights. Legacy HDF5 loading does not refresh the layer's cached
    statistics, hence `finalize_state()`.
    """
    for layer in model.layers:
        if isinstance(layer, keras.layers.Normalization) and layer.input_mean is None and layer.weights:
            mean, variance, count = layer.get_weights()
            if variance.size == 3 and np.allclose(variance.ravel(), IMAGENET_STDDEV, atol=1e-4):
                layer.set_weights([mean, variance**2, count])
            layer.finalize_state()

"""Loading weights into built models: official ImageNet files or a local weights file.

Official files are fetched through `keras.utils.get_file` from the addresses keras.applications
uses, then loaded into our model, so the Keras 3.11+ keras.applications regression (a list-valued
`Rescaling` that collapses the channel axis, keras issues 21529/21692) is never on our path.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import keras
import numpy as np

from effnet_keras.errors import EffnetError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STDDEV = (0.229, 0.224, 0.225)
"""Per-channel mean and standard deviation of ImageNet's RGB pixels scaled to 0..1, which the
ImageNet-trained networks normalise their inputs with."""


class WeightsError(EffnetError, ValueError):
    """A weights argument or file that cannot be used, with what to do about it (exit code 2)."""

    exit_code = 2


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


V1_WEIGHTS_URL = "https://storage.googleapis.com/keras-applications/"
V2_WEIGHTS_URL = "https://storage.googleapis.com/tensorflow/keras-applications/efficientnet_v2/"
IMAGENET_MD5 = {
    # variant: (md5 with the top, md5 without it), as keras.applications publishes the files.
    "b0": ("902e53a9f72be733fc0bcb005b3ebbac", "50bc09e76180e00e4465e1a485ddc09d"),
    "b1": ("1d254153d4ab51201f1646940f018540", "74c4e6b3e1f6a1eea24c589628592432"),
    "b2": ("b15cce36ff4dcbd00b6dd88e7857a6ad", "111f8e2ac8aa800a7a99e3239f7bfb39"),
    "b3": ("ffd1fdc53d0ce67064dc6a9c7960ede0", "af6d107764bb5b1abb91932881670226"),
    "b4": ("18c95ad55216b8f92d7e70b3a046e2fc", "ebc24e6d6c33eaebbd558eafbeedf1ba"),
    "b5": ("ace28f2a6363774853a83a0b21b9421a", "38879255a25d3c92d5e44e04ae6cec6f"),
    "b6": ("165f6e37dce68623721b423839de8be5", "9ecce42647a20130c1f39a5d4cb75743"),
    "b7": ("8c03f828fec3ef71311cd463b6759d99", "cbcfe4450ddf6f3ad90b1b398090fe4a"),
    "v2-b0": ("21ecbf6da12460d5c40bb2f29ceb2188", "893217f2bb855e2983157299931e43ff"),
    "v2-b1": ("069f0534ff22adf035c89e2d9547a9dc", "0e80663031ca32d657f9caa404b6ec37"),
    "v2-b2": ("424e49f28180edbde1e94797771950a7", "1dfe2e7a5d45b6632553a8961ea609eb"),
    "v2-b3": ("1f1fc43bd98a6e4fd8fdfd551e02c7a0", "f6abf7b5849ac99a89b50dd3fd532856"),
    "v2-s": ("e1d88a8495beba45748fedd0cecbe016", "af0682fb74e8c54910f2d4393339c070"),
    "v2-m": ("a3bf6aa3276309f4fc6a34aa114c95cd", "1b8dc055df72dde80d614482840fe342"),
    "v2-l": ("27e6d408b53c7ebc868fefa357689935", "b0b66b5c863aef5b46e8608fe1711615"),
}


def imagenet_weights_url(config: Mapping[str, Any], include_top: bool) -> tuple[str, str, str]:
    """(file name, URL, md5) of the official keras.applications ImageNet file for an unscaled variant."""
    name = config["name"]
    if name not in IMAGENET_MD5 or "alpha" in config:
        raise WeightsError(f"No official ImageNet weights exist for config {name!r}; they exist for the "
                           "unmodified variants b0..b7 and v2-b0..v2-l. Use weights=None or a weights file.")
    if config["family"] == "v1":
        base, file_stem = V1_WEIGHTS_URL, f"efficientnet{name}"
    else:
        base, file_stem = V2_WEIGHTS_URL, f"efficientnetv2-{name[3:]}"
    file_name = file_stem + (".h5" if include_top else "_notop.h5")
    return file_name, base + file_name, IMAGENET_MD5[name][0 if include_top else 1]


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

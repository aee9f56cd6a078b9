"""Write Fashion-MNIST test images as PNG and JPEG files into class folders, e.g. to try
`--dataset folder:PATH` on real pictures:

    python examples/fashion_mnist_folder.py /tmp/fm-folder --num-classes 3 --per-class 500
"""

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from effnet_keras.data import load_dataset


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folder", type=Path)
    p.add_argument("--num-classes", type=int, default=3, help="the first N Fashion-MNIST classes")
    p.add_argument("--per-class", type=int, default=500, help="images per class folder")
    args = p.parse_args()
    data = load_dataset("fashion-mnist", classes=list(range(args.num_classes)), val_split=0)
    for label, name in enumerate(data.class_names):
        folder = args.folder / name.replace("/", " or ")
        folder.mkdir(parents=True, exist_ok=True)
        for i, image in enumerate(data.x_test[data.y_test == label][: args.per_class]):
            Image.fromarray(np.squeeze(image, -1)).save(folder / f"{i:05d}.{'jpg' if i % 2 else 'png'}")
    print(f"Wrote {args.num_classes} class folders of up to {args.per_class} images to {args.folder}")


if __name__ == "__main__":
    main()

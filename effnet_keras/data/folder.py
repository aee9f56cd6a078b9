"""Data sets from folders of image files (`--dataset folder:PATH`): listing, checking and
decoding them into uint8 arrays (cached), or into file lists that the pipeline streams.

Layouts: PATH/<class>/... (split seeded and class-stratified: TEST_FRACTION of each class tests)
or PATH/train/<class>/... with PATH/test/<class>/... and optionally PATH/val/ or
PATH/validation/ (then it validates). Class names are the sorted class folder names, as in
`keras.utils.image_dataset_from_directory`; images may sit in nested folders of a class folder.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from effnet_keras.data.cache import cached
from effnet_keras.data.images import IMAGE_EXTENSIONS, read_image_file, read_image_size
from effnet_keras.data.spec import DataError, DataRequestError, FileDecoding

TEST_FRACTION = 0.2
"""Share of each class that tests when the folder has no train/ and test/ folders."""
MEMORY_SHARE = 0.25
"""Decoded images may take this share of physical memory before a folder is streamed instead."""
IGNORED_FILES = frozenset({".DS_Store", "Thumbs.db", "desktop.ini"})
"""File names skipped silently (as are hidden files and folders, whose names start with ".")."""
SPLIT_FOLDERS = {"train": ("train",), "test": ("test",), "val": ("val", "validation")}
LAYOUT_HELP = ("PATH/<class>/<images> or PATH/train/<class>/<images> with PATH/test/<class>/<images> (and "
               "optionally PATH/val/<class>/<images>)")


@dataclass
class Listing:
    """The image files of one split folder: paths [N] (str) and labels [N] (int64, class index),
    plus files ignored for their extension (not images)."""

    paths: np.ndarray
    labels: np.ndarray
    not_images: list[str] = field(default_factory=list)


def split_folders(root: Path) -> dict[str, Path] | None:
    """{"train", "test"[, "val"]: folder} when `root` holds train/ and test/ folders, else None
    (the class folders sit in `root` itself)."""
    found = {split: next((root / n for n in names if (root / n).is_dir()), None)
             for split, names in SPLIT_FOLDERS.items()}
    if found["train"] is None and found["test"] is None:
        return None
    if found["train"] is None or found["test"] is None:
        have, missing = ("train", "test") if found["test"] is None else ("test", "train")
        raise DataRequestError(f"{root}: has a {have}/ folder but no {missing}/ folder; the layout is {LAYOUT_HELP}.")
    return {split: path for split, path in found.items() if path is not None}


def class_names_of(root: str | os.PathLike) -> tuple[str, ...]:
    """Sorted class folder names of the folder data set at `root` (its train/ folder when split);
    DataError naming the folder when it is missing, unreadable, or has fewer than 2 classes or
    classes that differ between train/, test/ and val/."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DataRequestError(f"{root}: no such folder; --dataset folder:PATH takes a folder laid out as "
                               f"{LAYOUT_HELP}.")
    splits = split_folders(root) or {"all": root}
    names = {split: _class_folders(folder) for split, folder in splits.items()}
    first = names.get("train", names.get("all"))
    for split, folder in splits.items():
        if names[split] != first:
            extra = sorted(set(first) ^ set(names[split]))
            raise DataRequestError(f"{folder}: its class folders differ from those of {splits['train']} "
                                   f"(only in one of "
                            f"them: {', '.join(extra)}); every split needs the same class folders.")
    if len(first) < 2:
        raise DataRequestError(f"{root}: {len(first)} class folder{'' if len(first) == 1 else 's'} "
                        f"({', '.join(first) or 'none'}); a classifier needs at least 2, laid out as {LAYOUT_HELP}.")
    return first


def list_split(folder: Path, class_names: tuple[str, ...]) -> Listing:
    """The image files under `folder`/<class>/ for each of `class_names` (sorted by path within
    a class); DataError naming an empty or unreadable class folder or a symlink loop."""
    paths, labels, not_images = [], [], []
    for label, name in enumerate(class_names):
        files = _image_files(folder / name, not_images)
        if not files:
            raise DataRequestError(f"{folder / name}: no image files ({', '.join(IMAGE_EXTENSIONS)}); "
                                   "put images in every "
                            f"class folder or remove the empty one.")
        paths += sorted(files)
        labels += [label] * len(files)
    return Listing(np.array(paths, dtype=str), np.array(labels, dtype=np.int64), not_images)


def _class_folders(folder: Path) -> tuple[str, ...]:
    """Sorted names of the class folders in `folder`; DataError for a name that cannot be a class
    name (control characters such as a newline, or bytes that are not UTF-8)."""
    names = tuple(sorted(entry.name for entry in _entries(folder) if _is_dir(entry)))
    for name in names:
        if not name.isprintable() or not _is_utf8(name):
            raise DataRequestError(f"{folder}: the class folder name {name!r} is not printable UTF-8 text; rename it "
                                   "(class names go into labels.txt, reports and predictions).")
    return names


def _is_utf8(name: str) -> bool:
    """Whether a file name decoded from the file system is valid UTF-8 (undecodable bytes arrive as
    surrogates, which cannot be encoded)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _entries(folder: Path) -> list[os.DirEntry]:
    """Visible entries of `folder` (hidden names and IGNORED_FILES left out)."""
    try:
        with os.scandir(folder) as it:
            return [e for e in it if not e.name.startswith(".") and e.name not in IGNORED_FILES]
    except OSError as exc:
        raise DataRequestError(f"{folder}: cannot list the folder ({exc.strerror or exc}); "
                               "check its permissions.") from None


def _is_dir(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir()
    except OSError:
        return False


def _image_files(folder: Path, not_images: list[str]) -> list[str]:
    """Paths of the image files under `folder`, recursively (following links once: a link back
    into its own ancestors is a DataError naming it); other files are added to `not_images`."""
    files, pending, seen = [], [(folder, frozenset())], set()
    while pending:
        current, ancestors = pending.pop()
        st = current.stat()
        ident = (st.st_dev, st.st_ino)
        if ident in ancestors:
            raise DataRequestError(f"{current}: a symbolic link loop (it leads back to a folder above it); "
                                   "remove the link.")
        if ident in seen:
            continue
        seen.add(ident)
        for entry in _entries(current):
            if _is_dir(entry):
                pending.append((Path(entry.path), ancestors | {ident}))
            elif Path(entry.name).suffix.lower() in IMAGE_EXTENSIONS:
                files.append(entry.path)
            else:
                not_images.append(entry.path)
    return files


def decode_many(count: int, decode_one: Callable[[int], np.ndarray], image_shape: tuple[int, int, int],
                skip_bad: bool, what: str) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 images [count, *image_shape], ok [count] bool) from `decode_one(i)`, run on a thread
    per CPU (Pillow decodes without the GIL) with a progress bar. A DataError raises, adding how
    to skip, or with `skip_bad` leaves zeros and ok False."""
    import keras

    images = np.zeros((count, *image_shape), np.uint8)
    ok = np.ones(count, bool)

    def decode(i: int) -> None:
        try:
            images[i] = decode_one(i)
        except DataError as exc:
            if not skip_bad:
                raise DataRequestError(f"{exc} Pass --skip-bad-images to leave such files out.") from None
            ok[i] = False

    print(f"Decoding {count} {what} images.")
    bar = keras.utils.Progbar(count, unit_name="image")
    with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        for done, _ in enumerate(pool.map(decode, range(count)), 1):
            if done % 256 == 0 or done == count:
                bar.update(done)
    return images, ok


def check_headers(paths: np.ndarray, skip_bad: bool) -> np.ndarray:
    """ok [N] bool: whether each file's header names an image within the pixel bound (read in
    parallel, no pixel decoded): what a streamed folder checks before training. A bad file
    raises DataRequestError unless `skip_bad`."""
    def check(path: str) -> bool:
        try:
            read_image_size(path)
        except DataError as exc:
            if not skip_bad:
                raise DataRequestError(f"{exc} Pass --skip-bad-images to leave such files out.") from None
            return False
        return True

    with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        return np.fromiter(pool.map(check, paths), bool, len(paths))


def memory_budget(limit_gib: float | None) -> int:
    """Bytes of decoded images a folder may hold in memory: `limit_gib` GiB, or MEMORY_SHARE of
    physical memory."""
    if limit_gib is not None:
        return int(limit_gib * 2**30)
    return int(MEMORY_SHARE * os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))


def read_folder(root: str | os.PathLike, class_names: tuple[str, ...], image_shape: tuple[int, int, int],
                resize: str, *, skip_bad_images: bool = False, stream: bool = False,
                memory_limit_gib: float | None = None, cache_dir: Path | None = None,
                log=print) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], FileDecoding]:
    """({split: (images, labels)}, decoding) of the folder data set at `root`: splits "train" and
    "test" (and "val" when the folder has one), or only "all" for a folder of class folders.
    Images are uint8 [N, *image_shape], or file paths [N] (str) when `decoding.streamed`.

    Decoded arrays are cached in `cache_dir` (None: no cache), keyed by the file list, sizes and
    modification times. The folder is streamed when `stream` or when its decoded images would
    exceed `memory_budget(memory_limit_gib)`; then only the files' headers are checked here.
    Undecodable files raise DataRequestError naming them, or with `skip_bad_images` are left out,
    listed in `decoding.skipped` and logged.
    """
    root = Path(root).expanduser()
    folders = split_folders(root) or {"all": root}
    listings = {split: list_split(folder, class_names) for split, folder in folders.items()}
    not_images = [p for listing in listings.values() for p in listing.not_images]
    if not_images:
        log(f"Ignored {len(not_images)} files without an image extension ({', '.join(IMAGE_EXTENSIONS)}), "
            f"e.g. {not_images[0]}.")
    total = sum(len(listing.paths) for listing in listings.values())
    streamed = stream or total * int(np.prod(image_shape)) > memory_budget(memory_limit_gib)
    if streamed:
        log(f"Streaming {total} images from {root} (--stream, or decoded they would exceed the in-memory budget "
            f"of {memory_budget(memory_limit_gib) / 2**30:.1f} GiB).")
    splits, skipped = {}, []
    for split, listing in listings.items():
        if streamed:
            images, ok = listing.paths, check_headers(listing.paths, skip_bad_images)
        else:
            images, ok = _decoded(listing, image_shape, resize, skip_bad_images, cache_dir, split)
        skipped += listing.paths[~ok].tolist()
        splits[split] = (images[ok], listing.labels[ok])
        missing = sorted(set(range(len(class_names))) - set(splits[split][1].tolist()))
        if missing:
            raise DataRequestError(f"{folders[split] / class_names[missing[0]]}: no decodable images left; every "
                                   f"class needs images in every split.")
    if skipped:
        log(f"Skipped {len(skipped)} undecodable image files (--skip-bad-images), e.g. {skipped[0]}.")
    return splits, FileDecoding(resize, streamed, tuple(skipped))


def _decoded(listing: Listing, image_shape: tuple[int, int, int], resize: str, skip_bad: bool,
             cache_dir: Path | None, split: str) -> tuple[np.ndarray, np.ndarray]:
    """(images, ok) of a listing via the cache. An entry holds every listed file, label -1 for an
    undecodable one (such entries exist only with `skip_bad`); without `skip_bad`, an entry's
    first bad file is decoded again for its error."""
    def decode():
        images, ok = decode_many(len(listing.paths), lambda i: read_image_file(listing.paths[i], image_shape, resize),
                                 image_shape, skip_bad, split)
        return images, np.where(ok, listing.labels, -1), np.zeros((0, *image_shape), np.uint8), np.zeros(0, np.int64)

    def check(arrays):
        if arrays[0].shape != (len(listing.paths), *image_shape) or not np.array_equal(
                np.where(arrays[1] >= 0, listing.labels, -1), arrays[1]):
            raise DataError(f"the decoded-image cache does not match the {split} files; delete the cache folder "
                            f"(see --data-dir) and run again.")

    name = f"folder-{split}-{'x'.join(map(str, image_shape))}-{resize}"
    images, labels, _, _ = cached(cache_dir, name, [Path(p) for p in listing.paths], decode, check)
    ok = labels >= 0
    if not skip_bad and not ok.all():
        decode_many(1, lambda i: read_image_file(listing.paths[np.argmin(ok)], image_shape, resize), image_shape,
                    False, split)
    return images, ok

"""Folders of image files (`--dataset folder:PATH`): decoding, layouts, every bad input of issue 27
point 4, the cache, streaming, and the training CLI on a folder."""

import io
import json
import os
import re
import shutil
import struct
import zlib

import numpy as np
import pytest
from helpers import in_process
from PIL import Image, ImageFile

from effnet_keras import train_cli
from effnet_keras.data import DataError, load_dataset, make_pipeline
from effnet_keras.data import folder as folder_module
from effnet_keras.data import images as images_module
from effnet_keras.data.images import MAX_PIXELS, decode_image, read_image_file
from effnet_keras.data.spec import parse_image_size

SHAPE = (16, 16, 3)
COLOURS = {"cat": (220, 40, 40), "dog": (40, 220, 40), "ñandú bird": (40, 40, 220)}


def encoded(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def write_folder(root, per_class=6, classes=COLOURS, splits=("",)):
    """Class folders of small noisy JPEG and PNG images, names with spaces and non-ASCII letters."""
    rng = np.random.default_rng(0)
    for split in splits:
        for name, colour in classes.items():
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(per_class):
                pixels = np.clip(rng.normal(colour, 30, (12 + i, 20, 3)), 0, 255).astype(np.uint8)
                Image.fromarray(pixels).save(folder / f"photo {i}.{'jpg' if i % 2 else 'png'}")
    return root


def load(root, **kwargs):
    return load_dataset(f"folder:{root}", image_size=SHAPE[:2], cache=False, **{"val_split": 0, **kwargs})


def test_formats_modes_and_exif_become_the_declared_shape():
    rgb = Image.fromarray(np.arange(12 * 20 * 3, dtype=np.uint8).reshape(12, 20, 3))
    for fmt in ("JPEG", "PNG", "BMP", "GIF", "WEBP"):
        for channels in (1, 3):
            assert decode_image(encoded(rgb, fmt), (8, 8, channels)).shape == (8, 8, channels)
    grey16 = Image.fromarray((np.arange(16 * 16).reshape(16, 16) * 256).astype(np.uint16))
    assert decode_image(encoded(grey16, "PNG"), (16, 16, 1))[-1, -1, 0] == 255  # high byte, not clipped
    rgba = np.asarray(rgb.convert("RGBA"))
    np.testing.assert_array_equal(decode_image(encoded(Image.fromarray(rgba), "PNG"), (12, 20, 3)), np.asarray(rgb))
    palette = rgb.convert("P")
    assert decode_image(encoded(palette, "PNG", transparency=0), (12, 20, 3)).shape == (12, 20, 3)
    frames = [Image.new("RGB", (8, 8), (255, 0, 0)), Image.new("RGB", (8, 8), (0, 0, 255))]
    gif = io.BytesIO()
    frames[0].save(gif, "GIF", save_all=True, append_images=frames[1:])
    assert tuple(decode_image(gif.getvalue(), (8, 8, 3))[0, 0]) == (255, 0, 0)  # the first frame
    marked = Image.new("RGB", (20, 10))
    marked.putpixel((0, 0), (255, 255, 255))
    exif = marked.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    upright = decode_image(encoded(marked, "PNG", exif=exif.tobytes()), (20, 10, 3))
    assert upright[0, -1].min() == 255 and upright[0, 0].max() == 0


def test_resize_policies():
    wide = np.zeros((10, 40, 3), np.uint8)
    wide[:, :10] = 255  # white left quarter
    data = encoded(Image.fromarray(wide), "PNG")
    squash = decode_image(data, (10, 10, 3), "squash")
    crop = decode_image(data, (10, 10, 3), "center-crop")
    pad = decode_image(data, (10, 10, 3), "pad")
    assert squash[:, 0].min() == 255 and crop.max() == 0  # the centre holds no white
    assert pad[0].max() == 0 and pad[-1].max() == 0 and pad[5, 0].min() == 255  # black borders top and bottom
    with pytest.raises(DataError, match="resize policy 'stretch'"):
        decode_image(data, (10, 10, 3), "stretch")


def test_image_size_flag_parses_and_checks_ranges():
    assert parse_image_size("64") == (64, 64) and parse_image_size("48,64") == (48, 64)
    for bad in ("0", "64,", "a", "1,2,3", "9999"):
        with pytest.raises(DataError, match="--image-size"):
            parse_image_size(bad)


def test_class_folders_layout_is_split_seeded_and_stratified(tmp_path):
    root = write_folder(tmp_path / "photos", per_class=10)
    data = load(root, val_split=0)
    assert data.class_names == sorted(COLOURS) and data.image_shape == SHAPE
    assert np.bincount(data.y_test).tolist() == [2, 2, 2] and np.bincount(data.y_train).tolist() == [8, 8, 8]
    again = load(root, val_split=0)
    np.testing.assert_array_equal(again.x_test, data.x_test)
    other = load(root, val_split=0, seed=1)
    assert not np.array_equal(other.x_test, data.x_test)


def test_train_test_val_layout_and_classes_by_name(tmp_path):
    root = write_folder(tmp_path / "split", per_class=3, splits=("train", "test", "val"))
    data = load(root, classes=("dog", "cat"))
    assert data.class_names == ["dog", "cat"] and not data.selected_on_test
    assert len(data.x_train) == len(data.x_val) == len(data.x_test) == 6  # val/ validates: no hold-out
    np.testing.assert_array_equal(data.x_val[data.y_val == 0][0],
                                  read_image_file(root / "val" / "dog" / "photo 0.png", SHAPE))
    with pytest.raises(DataError, match="no class 'cow'; its classes are cat, dog, ñandú bird"):
        load(root, classes=("cow", "cat"))


def test_hidden_and_system_files_are_ignored_and_others_counted(tmp_path, capsys):
    root = write_folder(tmp_path / "photos", per_class=5)
    (root / "cat" / ".DS_Store").write_bytes(b"\0junk")
    (root / "cat" / "Thumbs.db").write_bytes(b"\0junk")
    (root / "dog" / ".hidden.jpg").write_bytes(b"not an image")
    (root / ".cache").mkdir()
    (root / "dog" / "notes.txt").write_text("a note")
    data = load(root)
    assert data.class_names == sorted(COLOURS) and len(data.x_train) + len(data.x_test) == 15
    assert "Ignored 1 files without an image extension" in capsys.readouterr().out


@pytest.mark.parametrize("damage, message", [
    (lambda f: f.write_bytes(f.read_bytes()[:200]), "not a decodable image .*truncated"),
    (lambda f: f.write_text("<html>not a picture</html>"), "not an image in a format Pillow reads"),
])
def test_a_bad_file_is_named_or_skipped_and_counted(tmp_path, damage, message):
    root = write_folder(tmp_path / "photos")
    bad = root / "dog" / "photo 1.jpg"
    damage(bad)
    with pytest.raises(DataError, match=f"{bad}: {message}.*--skip-bad-images"):
        load(root)
    data = load(root, skip_bad_images=True)
    assert data.decoding.skipped == (str(bad),)
    assert len(data.x_train) + len(data.x_test) == 17


@pytest.mark.parametrize("hazard, message", [
    (lambda f: os.mkfifo(f), "not a regular file"),  # reading a named pipe would block forever
    (lambda f: f.symlink_to("/dev/zero"), "not a regular file"),  # and a device would fill memory
    (lambda f: (f.touch(), os.truncate(f, images_module.MAX_FILE_BYTES + 1)),  # sparse: no disk used
     "268,435,457 bytes, more than the 268,435,456 an image file may have"),
])
def test_pipes_devices_and_huge_files_are_refused_before_reading(tmp_path, hazard, message):
    root = write_folder(tmp_path / "photos")
    bad = root / "dog" / "photo 9.png"
    hazard(bad)
    with pytest.raises(DataError, match=f"{bad}: {message}"):
        load(root)
    assert load(root, skip_bad_images=True).decoding.skipped == (str(bad),)


@pytest.mark.parametrize("name", ["two\nlines", "tab\there"])
def test_class_folder_names_must_be_printable(tmp_path, name):
    root = write_folder(tmp_path / "photos")
    (root / "cat").rename(root / name)
    with pytest.raises(DataError, match="is not printable UTF-8 text; rename it"):
        load(root)


@pytest.mark.parametrize("arrange, message", [
    (lambda r: (r / "empty").mkdir(), "empty: no image files"),
    (lambda r: [shutil.rmtree(r / name) for name in ("dog", "cat")], "1 class folder"),
])
def test_empty_class_folder_and_single_class(tmp_path, arrange, message):
    root = write_folder(tmp_path / "photos")
    arrange(root)
    with pytest.raises(DataError, match=message):
        load(root)


def test_a_class_in_train_but_not_in_test(tmp_path):
    root = write_folder(tmp_path / "split", per_class=3, splits=("train", "test"))
    shutil.rmtree(root / "test" / "dog")
    with pytest.raises(DataError, match="test: its class folders differ .*only in one of them: dog"):
        load(root)


def test_unreadable_file(tmp_path, monkeypatch):
    root = write_folder(tmp_path / "photos")
    locked = root / "cat" / "photo 2.png"
    if os.geteuid() == 0:  # root reads anything: stand in for the kernel's refusal
        real_open = open

        def refusing(path, *args, **kwargs):
            if os.fspath(path) == str(locked):
                raise PermissionError(13, "Permission denied")
            return real_open(path, *args, **kwargs)

        monkeypatch.setattr(images_module, "open", refusing, raising=False)
    else:
        locked.chmod(0)
    with pytest.raises(DataError, match=f"{locked}: cannot read the file \\(Permission denied\\)"):
        load(root)


def test_symlink_loop(tmp_path):
    root = write_folder(tmp_path / "photos")
    (root / "cat" / "again").symlink_to(root / "cat", target_is_directory=True)
    with pytest.raises(DataError, match="again: a symbolic link loop"):
        load(root)


def bomb_png(width: int, height: int) -> bytes:
    """A valid 1-bit black PNG of width x height written row by row: a few hundred KB."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    row = b"\0" * (1 + (width + 7) // 8)
    packer = zlib.compressobj(9)
    data = b"".join(packer.compress(row * 1000) for _ in range(height // 1000)) + packer.flush()
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0))
            + chunk(b"IDAT", data) + chunk(b"IEND", b""))


def test_decompression_bomb_is_refused_before_decoding(tmp_path, monkeypatch):
    root = write_folder(tmp_path / "photos")
    bomb = root / "cat" / "huge.png"
    bomb.write_bytes(bomb_png(30000, 30000))
    assert bomb.stat().st_size < 1_000_000 and 30000 * 30000 > MAX_PIXELS

    def no_decoding(self):
        raise AssertionError("pixels decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    with pytest.raises(DataError, match="huge.png: too many pixels.*decompression bomb"):
        read_image_file(bomb, SHAPE)


def test_many_tiny_files_are_listed_with_one_scan_per_folder(tmp_path, monkeypatch):
    root = tmp_path / "many"
    for name in ("a", "b"):
        (root / name).mkdir(parents=True)
        for i in range(2_000):
            os.close(os.open(root / name / f"{i}.png", os.O_CREAT | os.O_WRONLY))
    scans = []
    real_scandir = os.scandir
    monkeypatch.setattr(folder_module.os, "scandir", lambda path: scans.append(path) or real_scandir(path))
    listing = folder_module.list_split(root, ("a", "b"))
    assert len(listing.paths) == 4_000 and np.bincount(listing.labels).tolist() == [2_000, 2_000]
    assert len(scans) == 2


def test_second_load_comes_from_the_cache(tmp_path, monkeypatch):
    root = write_folder(tmp_path / "photos")
    first = load_dataset(f"folder:{root}", image_size=SHAPE[:2], data_dir=tmp_path / "cache", val_split=0)
    monkeypatch.setattr(folder_module, "read_image_file", lambda *a: pytest.fail("decoded again"))
    second = load_dataset(f"folder:{root}", image_size=SHAPE[:2], data_dir=tmp_path / "cache", val_split=0)
    np.testing.assert_array_equal(first.x_train, second.x_train)
    (root / "cat" / "photo 0.png").touch()  # a newer file: the entry is stale
    with pytest.raises(BaseException, match="decoded again"):
        load_dataset(f"folder:{root}", image_size=SHAPE[:2], data_dir=tmp_path / "cache", val_split=0)


def test_streamed_batches_equal_the_in_memory_ones(tmp_path):
    root = write_folder(tmp_path / "photos")
    memory = load(root, resize="pad")
    streamed = load(root, resize="pad", stream=True)
    assert streamed.decoding.streamed and streamed.x_train.dtype.kind == "U"
    assert streamed.pipeline_decoding == (SHAPE, "pad") and memory.pipeline_decoding is None
    np.testing.assert_array_equal(streamed.y_test, memory.y_test)
    batches = make_pipeline(streamed.x_test, streamed.y_test, 4, training=False, deterministic=True,
                            decoding=streamed.pipeline_decoding)
    np.testing.assert_array_equal(np.concatenate([x for x, _ in batches.as_numpy_iterator()]), memory.x_test)


def test_training_cli_on_a_folder(tmp_path):
    root = write_folder(tmp_path / "photos")
    bad = root / "cat" / "photo 3.jpg"
    bad.write_bytes(b"\xff\xd8 truncated")
    run = tmp_path / "run"
    args = ["--model", "simple-cnn", "--dataset", f"folder:{root}", "--image-size", "16", "--epochs", "1",
            "--batch-size", "4", "--augment", "none", "--val-split", "2", "--output-dir", str(run),
            "--data-dir", str(tmp_path / "cache")]
    refused = in_process(train_cli.main, args)
    assert refused.returncode == 2 and refused.stderr.count("error:") == 1 and str(bad) in refused.stderr
    done = in_process(train_cli.main, [*args, "--skip-bad-images", "--resize", "center-crop"])
    assert done.returncode == 0, done.stderr
    config = json.loads((run / "config.json").read_text())
    assert config["class_names"] == sorted(COLOURS) and config["image_shape"] == [16, 16, 3]
    assert config["decoding"] == {"resize": "center-crop", "streamed": False, "skipped": [str(bad)]}


@pytest.mark.parametrize("args, message", [
    (["--dataset", "folder:/no/such/folder"], "/no/such/folder: no such folder"),
    (["--dataset", "cifar11"], "unknown dataset 'cifar11'; choose .*folder:PATH"),
    (["--dataset", "cifar10", "--image-size", "64"], "--image-size applies to folder:PATH and tfds:NAME"),
    (["--dataset", "synthetic", "--stream"], "--stream applies to --dataset folder:PATH only"),
])
def test_cli_refuses_bad_data_flags_with_exit_2(args, message):
    result = in_process(train_cli.main, ["--model", "simple-cnn", *args])
    assert result.returncode == 2 and result.stderr.count("error:") == 1
    assert re.search(message, result.stderr), result.stderr

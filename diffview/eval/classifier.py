"""A small Fashion-MNIST CNN whose penultimate layer supplies the features for FID.

The classifier is stored as ONNX (``resources/eval/fashion_classifier.onnx``) with two outputs,
``logits (B, 10)`` and ``features (B, 128)``, and run with onnxruntime, so measuring sample
quality needs no torch. Its input is ``image (B, 1, 28, 28)`` float32 in the model range
[-1, 1], i.e. ``uint8 / 127.5 - 1``; :class:`FeatureClassifier` takes uint8 images and does
that conversion, so real and generated images go through exactly the same path.

Training (torch, CPU, a few minutes)::

    python -m diffview.eval.classifier train --data ../shared/data/fashion-mnist \\
        --out resources/eval/fashion_classifier.onnx --epochs 5 --threads 1 --seed 0

Architecture: three 3x3 conv blocks (16, 32, 64 channels; BatchNorm, ReLU, 2x2 max-pool),
a 576 -> 128 linear layer with ReLU (the *features*), dropout, and a 128 -> 10 linear layer.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from diffview.paths import resource

__all__ = [
    "CLASS_NAMES",
    "FEATURE_DIM",
    "FeatureClassifier",
    "default_classifier_path",
    "images_to_input",
    "load_fashion_split",
]

CLASS_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
               "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
FEATURE_DIM = 128
IMAGE_SHAPE = (28, 28)


def default_classifier_path() -> Path:
    """``resources/eval/fashion_classifier.onnx`` (wherever the resources live)."""
    return resource("eval", "fashion_classifier.onnx")


# ------------------------------------------------------------------------------------ data


def load_fashion_split(folder: str | Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Images and labels of one Fashion-MNIST split from an IDX folder.

    Parameters
    ----------
    folder : str or Path
        Folder with ``train-images-idx3-ubyte(.gz)`` etc.
    split : {"train", "test"}

    Returns
    -------
    images : uint8 ndarray, shape (N, 28, 28)
    labels : int64 ndarray, shape (N,)
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', found {split!r}")
    from diffview.core.data import load_idx_folder

    data = load_idx_folder(folder, split)
    if data.labels is None:
        raise ValueError(f"{folder}: the {split} split has no labels")
    return np.asarray(data.images, np.uint8), np.asarray(data.labels, np.int64)


def images_to_input(images: np.ndarray) -> np.ndarray:
    """uint8 images ``(N, 28, 28)`` or ``(N, 1, 28, 28)`` -> float32 ``(N, 1, 28, 28)`` in [-1, 1].

    Raises
    ------
    ValueError
        For another dtype or shape.
    """
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise ValueError(f"expected uint8 images, found dtype {images.dtype}")
    if images.ndim == 4 and images.shape[1] == 1:
        images = images[:, 0]
    if images.ndim != 3 or images.shape[1:] != IMAGE_SHAPE:
        raise ValueError(f"expected images of shape (N, 28, 28) or (N, 1, 28, 28), "
                         f"found {images.shape}")
    return (images.astype(np.float32) / 127.5 - 1.0)[:, None]


# ------------------------------------------------------------------------------- inference


class FeatureClassifier:
    """The ONNX classifier: class logits and penultimate-layer features of uint8 images.

    Parameters
    ----------
    path : str or Path, optional
        The ONNX file; default :func:`default_classifier_path`.
    device : {"auto", "cpu", "cuda"}
    threads : int, optional
        onnxruntime intra-op threads.
    batch : int
        Images per onnxruntime call.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If the model does not have the ``logits`` and ``features`` outputs.
    """

    def __init__(self, path: str | Path | None = None, device: str = "cpu",
                 threads: int | None = None, batch: int = 500) -> None:
        from diffview.engine.providers import create_session

        self.path = Path(path) if path is not None else default_classifier_path()
        if not self.path.is_file():
            raise FileNotFoundError(f"{self.path}: classifier model not found")
        self._session, self.provider, _ = create_session(self.path, device, threads)
        names = [o.name for o in self._session.get_outputs()]
        if "logits" not in names or "features" not in names:
            raise ValueError(f"{self.path}: expected outputs 'logits' and 'features', "
                             f"found {names}")
        self._input = self._session.get_inputs()[0].name
        self.batch = int(batch)
        self.metadata = dict(self._session.get_modelmeta().custom_metadata_map)

    def run(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Logits and features of uint8 images.

        Parameters
        ----------
        images : uint8 ndarray, shape (N, 28, 28) or (N, 1, 28, 28)

        Returns
        -------
        logits : float32 ndarray, shape (N, 10)
        features : float32 ndarray, shape (N, 128)
        """
        x = images_to_input(images)
        logits, feats = [], []
        for start in range(0, x.shape[0], self.batch):
            lg, ft = self._session.run(["logits", "features"],
                                       {self._input: x[start:start + self.batch]})
            logits.append(lg)
            feats.append(ft)
        if not logits:
            return np.zeros((0, len(CLASS_NAMES)), np.float32), np.zeros((0, FEATURE_DIM),
                                                                          np.float32)
        return np.concatenate(logits), np.concatenate(feats)

    def features(self, images: np.ndarray) -> np.ndarray:
        """Penultimate-layer features ``(N, 128)`` of uint8 images."""
        return self.run(images)[1]

    def predict(self, images: np.ndarray) -> np.ndarray:
        """Predicted class indices ``(N,)`` of uint8 images."""
        return self.run(images)[0].argmax(axis=1)


# -------------------------------------------------------------------------------- training


def build_net() -> Any:
    """The torch module (imports torch). ``forward(x) -> (logits, features)``."""
    import torch
    from torch import nn

    def block(c_in: int, c_out: int) -> nn.Sequential:
        return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
                             nn.BatchNorm2d(c_out), nn.ReLU(), nn.MaxPool2d(2))

    class FashionNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            # 28 -> 14 -> 7 -> 3 (floor): 64 * 3 * 3 = 576 inputs to the feature layer.
            self.conv = nn.Sequential(block(1, 16), block(16, 32), block(32, 64))
            self.fc = nn.Sequential(nn.Flatten(), nn.Linear(576, FEATURE_DIM), nn.ReLU())
            self.head = nn.Sequential(nn.Dropout(0.3), nn.Linear(FEATURE_DIM, len(CLASS_NAMES)))

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            features = self.fc(self.conv(x))
            return self.head(features), features

    return FashionNet()


def train(folder: str | Path, epochs: int = 5, batch: int = 128, lr: float = 3e-3,
          seed: int = 0, threads: int = 1, log=print) -> tuple[Any, float]:
    """Train the classifier on the training split; return ``(net, test_accuracy)``."""
    import torch
    from torch.nn import functional as F  # noqa: N812

    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    x_train, y_train = load_fashion_split(folder, "train")
    x_test, y_test = load_fashion_split(folder, "test")
    xt = torch.from_numpy(images_to_input(x_train))
    yt = torch.from_numpy(y_train)
    net = build_net()
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    steps_per_epoch = len(xt) // batch
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr,
                                                total_steps=epochs * steps_per_epoch)
    t0 = time.perf_counter()
    for epoch in range(epochs):
        net.train()
        order = torch.from_numpy(rng.permutation(len(xt)))
        total = 0.0
        for k in range(steps_per_epoch):
            idx = order[k * batch:(k + 1) * batch]
            xb = xt[idx]
            # Light augmentation: random horizontal flips (garments are roughly symmetric).
            flip = torch.from_numpy(rng.random(len(idx)) < 0.5)
            xb = torch.where(flip[:, None, None, None], xb.flip(-1), xb)
            logits, _ = net(xb)
            loss = F.cross_entropy(logits, yt[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach())
        acc = _accuracy(net, x_test, y_test)
        log(f"epoch {epoch + 1}/{epochs}: train loss {total / steps_per_epoch:.4f}, "
            f"test accuracy {acc:.4f}, {time.perf_counter() - t0:.0f} s")
    return net, _accuracy(net, x_test, y_test)


def _accuracy(net: Any, images: np.ndarray, labels: np.ndarray) -> float:
    import torch

    net.eval()
    with torch.no_grad():
        logits = torch.cat([net(torch.from_numpy(images_to_input(images[s:s + 1000])))[0]
                            for s in range(0, len(images), 1000)])
    return float((logits.argmax(1).numpy() == labels).mean())


def export(net: Any, path: str | Path, metadata: dict[str, str]) -> None:
    """Write ``net`` as ONNX with a dynamic batch axis and ``metadata`` in metadata_props."""
    import onnx
    import torch

    net.eval()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    x = torch.zeros(2, 1, *IMAGE_SHAPE)
    torch.onnx.export(net, (x,), str(path), dynamo=False, input_names=["image"],
                      output_names=["logits", "features"],
                      dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"},
                                    "features": {0: "batch"}}, opset_version=17)
    model = onnx.load(str(path))
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(model, str(path))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m diffview.eval.classifier",
                                     description="Train and export the FID feature classifier.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("train", help="train on the training split, export ONNX")
    p.add_argument("--data", required=True, help="Fashion-MNIST IDX folder")
    p.add_argument("--out", default=str(default_classifier_path()))
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p = sub.add_parser("test", help="test-split accuracy of an exported classifier (onnxruntime)")
    p.add_argument("--data", required=True)
    p.add_argument("--model", default=str(default_classifier_path()))
    args = parser.parse_args(argv)
    if args.command == "train":
        net, acc = train(args.data, args.epochs, args.batch, args.lr, args.seed, args.threads)
        command = (f"python -m diffview.eval.classifier train --data <fashion-mnist> "
                   f"--epochs {args.epochs} --batch {args.batch} --lr {args.lr} "
                   f"--seed {args.seed} --threads {args.threads}")
        export(net, args.out, {"diffview.classifier": "fashion-mnist feature net",
                               "diffview.test_accuracy": f"{acc:.4f}",
                               "diffview.input": "image (B,1,28,28) float32 = uint8/127.5-1",
                               "diffview.train_command": command})
        print(f"test accuracy {acc:.4f}; wrote {args.out} ({Path(args.out).stat().st_size} bytes)")
        return 0
    clf = FeatureClassifier(args.model)
    images, labels = load_fashion_split(args.data, "test")
    acc = float((clf.predict(images) == labels).mean())
    print(f"{args.model}: test accuracy {acc:.4f} on {len(labels)} images (onnxruntime)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

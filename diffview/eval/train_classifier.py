"""Train the FID feature classifier of :mod:`diffview.eval.classifier` with torch; export ONNX.

Command (the one that made ``resources/eval/fashion_classifier.onnx``)::

    python -m diffview.eval.train_classifier --data ../shared/data/fashion-mnist \\
        --out resources/eval/fashion_classifier.onnx --epochs 5 --threads 1 --seed 0
"""

from __future__ import annotations

import argparse
import io
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from diffview.eval.classifier import (
    CLASS_NAMES,
    FEATURE_DIM,
    IMAGE_SHAPE,
    default_classifier_path,
    images_to_input,
    load_fashion_split,
)
from diffview.fileio import save_bytes


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
    buf = io.BytesIO()
    # The legacy TorchScript exporter: ~20x faster than dynamo=True and exact for this plain
    # conv net; it warns that it is deprecated.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(net, (x,), buf, dynamo=False, input_names=["image"],
                          output_names=["logits", "features"],
                          dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"},
                                        "features": {0: "batch"}}, opset_version=17)
    model = onnx.load_from_string(buf.getvalue())
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    save_bytes(path, model.SerializeToString())  # atomic: temporary file, fsync, rename


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m diffview.eval.train_classifier",
                                description="Train the FID feature classifier on the training "
                                            "split and export it to ONNX.")
    p.add_argument("--data", required=True, help="Fashion-MNIST IDX folder")
    p.add_argument("--out", default=str(default_classifier_path()))
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    net, acc = train(args.data, args.epochs, args.batch, args.lr, args.seed, args.threads)
    command = (f"python -m diffview.eval.train_classifier --data <fashion-mnist> "
               f"--epochs {args.epochs} --batch {args.batch} --lr {args.lr} "
               f"--seed {args.seed} --threads {args.threads}")
    export(net, args.out, {"diffview.classifier": "fashion-mnist feature net",
                           "diffview.test_accuracy": f"{acc:.4f}",
                           "diffview.input": "image (B,1,28,28) float32 = uint8/127.5-1",
                           "diffview.train_command": command})
    print(f"test accuracy {acc:.4f}; wrote {args.out} ({Path(args.out).stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

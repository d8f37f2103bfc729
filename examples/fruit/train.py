#!/usr/bin/env python3
"""Train a fruit classifier (softmax regression) and write what a CML report shows.

Only numpy and matplotlib, so it runs wherever Debian's ``python3-numpy`` and
``python3-matplotlib`` are installed — in the demo that is an LXD container that reaches
Debian's package mirror but not PyPI. Full-batch gradient descent from zero weights on
standardised features is deterministic: the same data gives the same metrics.

Outputs (in ``--out``):
- ``metrics.json``: accuracy, test and training loss, per-class precision/recall/F1
- ``loss.csv``: ``epoch,train_loss,test_loss,test_accuracy`` every ``--log-every`` epochs
- ``confusion.json``: the test-set confusion matrix, ``{"labels": [...], "matrix": [[...]]}``
  (rows: actual, columns: predicted), the format ``cmlinfra report build --confusion`` reads
- ``confusion_matrix.png``: the same matrix drawn, for anyone not using cmlinfra's report
- with ``--model PATH``: the trained model (weights, bias and the feature scaling) as JSON, the
  output DVC versions and pushes in the demo (``dvc.yaml``)

Usage: ``python3 train.py [--data data] [--out .] [--model model/fruit.json] [--epochs 400]
[--lr 0.5]``
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path

import numpy as np

CLASSES = ("apple", "orange", "banana")


def load(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Features (float matrix) and labels (class indices) of one CSV split."""
    if not path.is_file():
        raise SystemExit(
            f"{path} not found; generate it with: python3 make_data.py --out {path.parent}"
        )
    with path.open(newline="") as fh:
        rows = list(csv.reader(fh))
    header, body = rows[0], rows[1:]
    if not body or header[-1] != "label":
        raise SystemExit(f"{path}: expected a header ending in 'label' and at least one row")
    x = np.array([[float(v) for v in row[:-1]] for row in body])
    y = np.array([CLASSES.index(row[-1]) for row in body])
    return x, y


def expand(x: np.ndarray) -> np.ndarray:
    """Standardised features plus their squares: apples are red *or* green, with oranges in
    between on the hue wheel, so a purely linear boundary cannot separate them."""
    return np.hstack([x, x**2])


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def cross_entropy(p: np.ndarray, y: np.ndarray) -> float:
    return float(-np.mean(np.log(p[np.arange(len(y)), y] + 1e-12)))


def confusion(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    matrix = np.zeros((len(CLASSES), len(CLASSES)), dtype=int)
    np.add.at(matrix, (y_true, y_pred), 1)
    return matrix


def per_class(matrix: np.ndarray) -> dict[str, dict[str, float]]:
    scores = {}
    for i, name in enumerate(CLASSES):
        tp = matrix[i, i]
        predicted, actual = matrix[:, i].sum(), matrix[i, :].sum()
        precision = tp / predicted if predicted else 0.0
        recall = tp / actual if actual else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        scores[name] = {
            "precision": round(float(precision), 4),
            "recall": round(float(recall), 4),
            "f1": round(float(f1), 4),
        }
    return scores


def plot_confusion(matrix: np.ndarray, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # no display on a runner
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 4), dpi=100)
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(CLASSES)), labels=CLASSES)
    ax.set_yticks(range(len(CLASSES)), labels=CLASSES)
    ax.set_xlabel("predicted")
    ax.set_ylabel("actual")
    ax.set_title("Confusion matrix (test set)")
    threshold = matrix.max() / 2
    for (i, j), count in np.ndenumerate(matrix):
        ax.text(
            j,
            i,
            str(count),
            ha="center",
            va="center",
            color="white" if count > threshold else "black",
        )
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def train(args: argparse.Namespace) -> dict[str, object]:
    x_train, y_train = load(args.data / "train.csv")
    x_test, y_test = load(args.data / "test.csv")
    mean, std = x_train.mean(axis=0), x_train.std(axis=0) + 1e-9
    x_train, x_test = expand((x_train - mean) / std), expand((x_test - mean) / std)
    k = len(CLASSES)
    weights, bias = np.zeros((x_train.shape[1], k)), np.zeros(k)
    onehot = np.eye(k)[y_train]
    history = []
    for epoch in range(1, args.epochs + 1):
        p = softmax(x_train @ weights + bias)
        grad = (p - onehot) / len(y_train)
        weights -= args.lr * (x_train.T @ grad + args.l2 * weights)
        bias -= args.lr * grad.sum(axis=0)
        if epoch % args.log_every == 0 or epoch in (1, args.epochs):
            p_test = softmax(x_test @ weights + bias)
            history.append(
                (
                    epoch,
                    cross_entropy(softmax(x_train @ weights + bias), y_train),
                    cross_entropy(p_test, y_test),
                    float(np.mean(p_test.argmax(axis=1) == y_test)),
                )
            )
    args.out.mkdir(parents=True, exist_ok=True)
    with (args.out / "loss.csv").open("w", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["epoch", "train_loss", "test_loss", "test_accuracy"])
        writer.writerows([e, f"{a:.6f}", f"{b:.6f}", f"{c:.4f}"] for e, a, b, c in history)
    if args.model:
        args.model.parent.mkdir(parents=True, exist_ok=True)
        model = {"classes": list(CLASSES), "mean": mean.tolist(), "std": std.tolist(),
                 "weights": weights.round(8).tolist(), "bias": bias.round(8).tolist()}  # fmt: skip
        args.model.write_text(json.dumps(model) + "\n")
    p_test = softmax(x_test @ weights + bias)
    matrix = confusion(y_test, p_test.argmax(axis=1))
    plot_confusion(matrix, args.out / "confusion_matrix.png")
    (args.out / "confusion.json").write_text(
        json.dumps({"labels": list(CLASSES), "matrix": matrix.tolist()}) + "\n"
    )
    return {
        "accuracy": round(float(np.trace(matrix) / matrix.sum()), 4),
        "loss": round(history[-1][2], 4),
        "train_loss": round(history[-1][1], 4),
        "classes": per_class(matrix),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("data"), help="train.csv/test.csv dir")
    parser.add_argument("--out", type=Path, default=Path("."), help="where outputs go")
    parser.add_argument("--model", type=Path, default=None, help="save the model (JSON) here")
    parser.add_argument("--epochs", type=int, default=400)
    parser.add_argument("--lr", type=float, default=0.5)
    parser.add_argument("--l2", type=float, default=1e-3, help="weight decay")
    parser.add_argument("--log-every", type=int, default=10)
    args = parser.parse_args()
    if args.epochs < 1 or args.log_every < 1 or args.lr <= 0:
        parser.error("need --epochs >= 1, --log-every >= 1 and --lr > 0")
    start = time.monotonic()
    metrics = train(args)
    metrics["train_seconds"] = round(time.monotonic() - start, 2)
    (args.out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    print(
        f"accuracy {metrics['accuracy']:.3f}  loss {metrics['loss']:.3f}  "
        f"({metrics['train_seconds']}s) -> {args.out}/metrics.json"
    )


if __name__ == "__main__":
    main()

"""The training loop: checkpoint every epoch, resume, log metrics and the experiment."""

from __future__ import annotations

import csv
import json
import math
import os
import platform
import random
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .augment import augment_batch, get_augment, mix_batch
from .compare import plot_curves, read_run
from .config import TrainConfig, member_dir
from .datasets import FaceDataset, load_dataset
from .datasets.base import stratified_split
from .models import create_model

CHECKPOINT_VERSION = 1


def hardware_description() -> str:
    if torch.cuda.is_available():
        return f"GPU {torch.cuda.get_device_name(0)}"
    return f"CPU {platform.processor() or platform.machine()} x{torch.get_num_threads()} threads"


def _autocast(device: torch.device, enabled: bool):
    if not enabled:
        return torch.autocast(device.type, enabled=False)
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.float16)
    return torch.autocast("cpu", dtype=torch.bfloat16)


def images_to_tensor(images: np.ndarray, channels: int) -> torch.Tensor:
    """uint8 ``(N,H,W)`` or ``(N,H,W,3)`` to uint8 ``(N,C,H,W)`` with ``channels`` channels."""
    t = torch.from_numpy(np.ascontiguousarray(images))
    t = t[:, None] if t.ndim == 3 else t.permute(0, 3, 1, 2)
    if t.shape[1] == channels:
        return t.contiguous()
    if channels == 3:
        return t.expand(-1, 3, -1, -1).contiguous()
    # RGB -> gray with ITU-R BT.601 weights, as OpenCV does.
    w = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    return (t.float() * w).sum(1, keepdim=True).round().clamp(0, 255).to(torch.uint8)


def model_images(images: np.ndarray, cfg: TrainConfig) -> torch.Tensor:
    """A dataset's uint8 images as the model's uint8 ``(N, C, image_size, image_size)``."""
    x = images_to_tensor(images, cfg.channels)
    if x.shape[-1] != cfg.image_size:
        x = F.interpolate(x.float(), size=cfg.image_size, mode="area").round().byte()
    return x


def normalize(x: torch.Tensor, cfg: TrainConfig) -> torch.Tensor:
    return (x - cfg.mean) / cfg.std


@torch.no_grad()
def predict_logits(model: nn.Module, images: torch.Tensor, cfg: TrainConfig,
                   device: torch.device, flip_tta: bool = True, batch_size: int = 512) -> torch.Tensor:
    """Logits for uint8 images ``(N,C,H,W)``, centre-cropped to ``cfg.input_size``."""
    model.eval()
    aug = get_augment("none")
    out = []
    for i in range(0, len(images), batch_size):
        x = images[i:i + batch_size].to(device).float() / 255
        x = normalize(augment_batch(x, aug, cfg.input_size, train=False), cfg)
        x = x.contiguous(memory_format=torch.channels_last)
        with _autocast(device, cfg.amp):
            logits = model(x).float()
            if flip_tta:
                logits = (logits + model(x.flip(-1)).float()) / 2
        out.append(logits.cpu())
    return torch.cat(out) if out else torch.zeros(0)


def _soft_targets(targets: torch.Tensor, num_classes: int, smoothing: float) -> torch.Tensor:
    y = F.one_hot(targets, num_classes).float() if targets.ndim == 1 else targets.float()
    if smoothing:
        y = y * (1 - smoothing) + smoothing / num_classes
    return y


def _lr_at(cfg: TrainConfig, epoch_float: float) -> float:
    if cfg.warmup_epochs and epoch_float < cfg.warmup_epochs:
        return cfg.lr * max(epoch_float / cfg.warmup_epochs, 0.01)
    if cfg.schedule == "cosine":
        span = max(cfg.epochs - cfg.warmup_epochs, 1)
        t = (epoch_float - cfg.warmup_epochs) / span
        return cfg.lr * 0.5 * (1 + math.cos(math.pi * min(t, 1.0)))
    if cfg.schedule == "step":
        return cfg.lr * cfg.step_gamma ** int(epoch_float // cfg.step_size)
    if cfg.schedule == "constant":
        return cfg.lr
    raise ValueError(f"unknown schedule {cfg.schedule!r}")


def make_optimizer(cfg: TrainConfig, model: nn.Module) -> torch.optim.Optimizer:
    decay, no_decay = [], []
    for p in model.parameters():
        (no_decay if p.ndim <= 1 else decay).append(p)
    groups = [{"params": decay, "weight_decay": cfg.weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    name = cfg.optimizer.lower()
    if name == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.momentum > 0)
    if name == "adamw":
        return torch.optim.AdamW(groups, lr=cfg.lr)
    if name == "adam":
        return torch.optim.Adam(groups, lr=cfg.lr)
    if name == "rmsprop":
        return torch.optim.RMSprop(groups, lr=cfg.lr, momentum=cfg.momentum)
    raise ValueError(f"unknown optimizer {cfg.optimizer!r}")


@dataclass
class Splits:
    train: FaceDataset
    val: FaceDataset
    test: FaceDataset | None


def split_dataset(ds: FaceDataset, cfg: TrainConfig) -> Splits:
    """Named splits when the data has them, else a seeded stratified split."""
    d = cfg.data
    present = set(ds.split)
    if d.train_split in present and d.val_split in present:
        test = ds.select_split(d.test_split) if d.test_split in present else None
        return Splits(ds.select_split(d.train_split), ds.select_split(d.val_split), test)
    split = stratified_split(ds.hard_targets, d.val_fraction, d.test_fraction, cfg.seed)
    ds.split = split
    return Splits(ds.select_split("train"), ds.select_split("val"),
                  ds.select_split("test") if (split == "test").any() else None)


def _atomic_save(obj, path: Path) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _append_csv(path: Path, row: dict) -> None:
    new = not path.exists()
    with open(path, "a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(row))
        if new:
            w.writeheader()
        w.writerow(row)


@dataclass
class TrainResult:
    out_dir: Path
    best_checkpoint: Path
    best_val_accuracy: float
    best_val_loss: float
    best_epoch: int
    epochs_run: int
    wall_time_s: float


def train(cfg: TrainConfig, out_dir: str | Path, resume: bool = True,
          dataset: FaceDataset | None = None, progress: bool = True,
          experiment_log: str | Path | None = None) -> TrainResult:
    """Train ``cfg`` into ``out_dir`` (``last.ckpt``, ``best.ckpt``, ``metrics.csv``,
    ``curves.png``).

    With ``resume`` a run continues from ``out_dir/last.ckpt`` when present.
    ``experiment_log`` (a CSV) gets one row per finished run.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cfg.save(out / "config.json")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)

    ds = dataset if dataset is not None else load_dataset(cfg.data, cfg.image_size, cfg.channels,
                                                          progress)
    splits = split_dataset(ds, cfg)
    train_ds = splits.train
    if cfg.max_train_samples and len(train_ds) > cfg.max_train_samples:
        rng = np.random.default_rng(cfg.seed)
        train_ds = train_ds.subset(np.sort(rng.choice(len(train_ds), cfg.max_train_samples,
                                                      replace=False)))
    num_classes = len(ds.label_set)
    x_train = model_images(train_ds.images, cfg)
    y_train = torch.from_numpy(train_ds.targets)
    x_val = model_images(splits.val.images, cfg)
    y_val = torch.from_numpy(splits.val.hard_targets)

    counts = np.bincount(train_ds.hard_targets, minlength=num_classes).astype(np.float64)
    class_weights = None
    sample_weights = None
    if cfg.balance == "loss":
        w = counts.sum() / np.maximum(counts, 1) / num_classes
        class_weights = torch.tensor(w, dtype=torch.float32, device=device)
    elif cfg.balance == "sampler":
        sample_weights = torch.from_numpy(1.0 / np.maximum(counts, 1))[train_ds.hard_targets]
    elif cfg.balance != "none":
        raise ValueError(f"balance must be none, sampler or loss, not {cfg.balance!r}")

    model = create_model(cfg.model, num_classes, cfg.channels, cfg.drop_rate).to(device)
    model = model.to(memory_format=torch.channels_last)
    opt = make_optimizer(cfg, model)
    aug = get_augment(cfg.augment)
    gen = torch.Generator().manual_seed(cfg.seed)

    start_epoch, best = 0, {"acc": -1.0, "loss": float("inf"), "epoch": -1}
    elapsed_before = 0.0
    last_path, best_path = out / "last.ckpt", out / "best.ckpt"
    if resume and last_path.exists():
        ck = torch.load(last_path, map_location=device, weights_only=False)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        gen.set_state(ck["generator"])
        torch.set_rng_state(ck["torch_rng"])
        start_epoch, best, elapsed_before = ck["epoch"] + 1, ck["best"], ck["wall_time_s"]

    steps_per_epoch = max(len(x_train) // cfg.batch_size, 1)
    t0 = time.time()
    epoch = start_epoch - 1
    bar = _progress(progress)
    with bar:
        task = bar.add_task("train", total=(cfg.epochs - start_epoch) * steps_per_epoch)
        for epoch in range(start_epoch, cfg.epochs):
            model.train()
            if sample_weights is not None:
                order = torch.multinomial(sample_weights, len(x_train), replacement=True,
                                          generator=gen)
            else:
                order = torch.randperm(len(x_train), generator=gen)
            loss_sum = correct = seen = 0.0
            for step in range(steps_per_epoch):
                lr = _lr_at(cfg, epoch + step / steps_per_epoch)
                for g in opt.param_groups:
                    g["lr"] = lr
                idx = order[step * cfg.batch_size:(step + 1) * cfg.batch_size]
                x = x_train[idx].float() / 255
                x = augment_batch(x, aug, cfg.input_size, train=True, generator=gen)
                y = _soft_targets(y_train[idx], num_classes, cfg.label_smoothing)
                x, y = mix_batch(x, y, aug, gen)
                x = normalize(x, cfg).to(device).contiguous(memory_format=torch.channels_last)
                y = y.to(device)
                with _autocast(device, cfg.amp):
                    logits = model(x)
                logp = F.log_softmax(logits.float(), 1)
                per = -(y * logp)
                if class_weights is not None:
                    per = per * class_weights
                loss = per.sum(1).mean()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                n = len(idx)
                loss_sum += float(loss.detach()) * n
                correct += float((logits.argmax(1) == y.argmax(1)).sum())
                seen += n
                bar.update(task, advance=1, description=(
                    f"epoch {epoch + 1}/{cfg.epochs} loss {loss_sum / seen:.3f} "
                    f"acc {correct / seen:.3f}"))
            val_logits = predict_logits(model, x_val, cfg, device)
            val_loss = float(F.cross_entropy(val_logits, y_val))
            val_acc = float((val_logits.argmax(1) == y_val).float().mean())
            wall = elapsed_before + time.time() - t0
            row = {"epoch": epoch + 1, "lr": round(lr, 6), "train_loss": round(loss_sum / seen, 5),
                   "train_acc": round(correct / seen, 5), "val_loss": round(val_loss, 5),
                   "val_acc": round(val_acc, 5), "wall_time_s": round(wall, 1)}
            _append_csv(out / "metrics.csv", row)
            improved = val_acc > best["acc"]
            if improved:
                best = {"acc": val_acc, "loss": val_loss, "epoch": epoch + 1}
            state = {"version": CHECKPOINT_VERSION, "config": cfg.to_dict(), "epoch": epoch,
                     "model": model.state_dict(), "optimizer": opt.state_dict(),
                     "generator": gen.get_state(), "torch_rng": torch.get_rng_state(),
                     "best": best, "wall_time_s": wall, "label_set": ds.label_set.name,
                     "labels": list(ds.label_set.labels), "hardware": hardware_description()}
            if improved:
                _atomic_save(state, best_path)
            _atomic_save(state, last_path)
            plot_curves([read_run(out)], out / "curves.png")
            bar.console.print(
                f"epoch {epoch + 1}: train loss {row['train_loss']:.3f} acc {row['train_acc']:.3f}"
                f" | val loss {val_loss:.3f} acc {val_acc:.4f}{' *' if improved else ''}")
            if cfg.early_stopping and epoch + 1 - best["epoch"] >= cfg.early_stopping:
                bar.console.print(f"early stopping: no better validation accuracy for "
                                  f"{cfg.early_stopping} epochs")
                break
    wall = elapsed_before + time.time() - t0
    result = TrainResult(out, best_path, best["acc"], best["loss"], best["epoch"], epoch + 1, wall)
    (out / "result.json").write_text(json.dumps(
        {"best_val_accuracy": best["acc"], "best_val_loss": best["loss"],
         "best_epoch": best["epoch"], "epochs_run": epoch + 1, "wall_time_s": wall,
         "hardware": hardware_description()}, indent=2))
    if experiment_log:
        log_experiment(experiment_log, cfg, result)
    return result


def train_ensemble(cfg: TrainConfig, out_dir: str | Path, resume: bool = True,
                   dataset: FaceDataset | None = None, progress: bool = True,
                   experiment_log: str | Path | None = None) -> list[TrainResult]:
    """Train each of ``cfg.members()`` into ``out_dir/member-<i>``, one after another.

    The data is loaded once; each member checkpoints and resumes on its own, so
    an interrupted ensemble continues where it stopped. ``ferkit export out_dir``
    exports the members' best checkpoints as one model.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cfg.save(out / "config.json")
    if dataset is None:
        dataset = load_dataset(cfg.data, cfg.image_size, cfg.channels, progress)
    return [train(member, member_dir(out, i), resume, dataset, progress, experiment_log)
            for i, member in enumerate(cfg.members())]


def log_experiment(path: str | Path, cfg: TrainConfig, result: TrainResult) -> None:
    """Append one row describing a finished run to an experiment-log CSV."""
    aug = cfg.augment if isinstance(cfg.augment, str) else json.dumps(cfg.augment, sort_keys=True)
    _append_csv(Path(path), {
        "name": cfg.name, "model": cfg.model, "data": f"{cfg.data.kind}:{Path(cfg.data.path).name}",
        "labels": cfg.data.label_mode, "input": f"{cfg.channels}x{cfg.input_size}",
        "preprocess": json.dumps(cfg.data.preprocess, sort_keys=True), "augment": aug,
        "optimizer": cfg.optimizer, "lr": cfg.lr, "epochs": result.epochs_run,
        "batch_size": cfg.batch_size, "dropout": cfg.drop_rate, "balance": cfg.balance,
        "label_smoothing": cfg.label_smoothing, "notes": cfg.notes,
        "best_val_loss": round(result.best_val_loss, 5),
        "best_val_accuracy": round(result.best_val_accuracy, 5),
        "best_epoch": result.best_epoch, "wall_time_s": round(result.wall_time_s, 1),
        "hardware": hardware_description(), "out_dir": str(result.out_dir)})


def _progress(enabled: bool):
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                               TimeElapsedColumn, TimeRemainingColumn)

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), TimeRemainingColumn(), disable=not enabled)

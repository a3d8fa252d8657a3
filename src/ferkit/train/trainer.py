"""The training loop: refuse what cannot train, checkpoint every epoch, resume on request,
log metrics and the experiment.

:func:`train` is a sequence of named steps — :func:`plan_run` (every check,
nothing written), :func:`prepare_tensors`, :func:`build_model`,
:func:`restore`, then per epoch :func:`train_one_epoch`, :func:`validate` and
:func:`save_epoch`, and :func:`finish`. A run folder that already holds a run
is refused unless resuming, and a resumed run must match the original's data,
split, architecture and labels; nothing in the folder is written before those
checks pass.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import platform
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ferkit.errors import ConfigError, DatasetError, OutputError, UsageError
from ferkit.progress import progress_bar

from .augment import augment_batch, get_augment, mix_batch
from .checkpoint import find_checkpoints, read_checkpoint, save_checkpoint
from .compare import plot_curves, read_run
from .config import TrainConfig, check_distill, member_dir, member_dirs
from .datasets import FaceDataset, load_dataset
from .distill import TeacherEnsemble, distillation_loss, load_teachers
from .finetune import InitWeights, adopt_input, load_init, resolve_init, set_frozen
from .inference import autocast, model_images, normalize, predict_logits
from .models import check_model_name, model_from_config
from .splits import Splits, describe, resolve_splits

log = logging.getLogger(__name__)

# Files that mark a folder as holding a training run (command.json alone does not:
# it is written before the data is read, so a run that failed to start leaves only it).
CURVES_EVERY_S = 30.0     # curves.png is redrawn at most this often while training

RUN_FILES = ("config.json", "last.ckpt", "best.ckpt", "metrics.csv", "result.json")


def hardware_description() -> str:
    if torch.cuda.is_available():
        return f"GPU {torch.cuda.get_device_name(0)}"
    return f"CPU {platform.processor() or platform.machine()} x{torch.get_num_threads()} threads"


# --- checks before anything is written ---------------------------------------------------------

def previous_run(out_dir: str | Path) -> list[str]:
    """What in ``out_dir`` shows an earlier training run (empty when there is none)."""
    out = Path(out_dir)
    if not out.is_dir():
        return []
    found = [name for name in RUN_FILES if (out / name).exists()]
    return found + [f"{d.name}/" for d in member_dirs(out)]


def run_identity(cfg: TrainConfig) -> dict:
    """What a resumed run must share with the run it continues: the data, the input and
    every member's architecture (epochs, learning rate and the like may change)."""
    return {"data": asdict(cfg.data), "channels": cfg.channels, "image_size": cfg.image_size,
            "mean/std": (cfg.mean, cfg.std),
            "architecture": " + ".join(f"{m.model} (input {m.input_size}, dropout {m.drop_rate})"
                                       for m in cfg.members())}


def _differences(old: dict, new: dict, prefix: str = "") -> list[str]:
    out = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += _differences(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append(f"{prefix}{key} ({a!r} there, {b!r} now)")
    return out


def _saved_config(out: Path) -> TrainConfig | None:
    for source in (out / "config.json", out / "last.ckpt"):
        if not source.is_file():
            continue
        try:
            if source.suffix == ".json":
                return TrainConfig.load(source)
            return TrainConfig.from_dict(read_checkpoint(source)["config"])
        except ConfigError as e:
            raise ConfigError(f"cannot resume {out}: its {source.name} cannot be read ({e})") \
                from None
    return None


def check_run_dir(cfg: TrainConfig, out_dir: str | Path, resume: bool) -> None:
    """Raise unless ``cfg`` may train into ``out_dir``: a folder holding another run is
    refused without ``resume``, and with it the run there must have the same data,
    input and architecture. Reads only; writes nothing."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out} is a file; --out names the run folder")
    found = previous_run(out)
    if not found:
        return
    if not resume:
        raise UsageError(f"{out} already holds a training run ({', '.join(found)}); pass "
                         "--resume to continue it, or choose another --out")
    old = _saved_config(out)
    if old is None:
        return
    diffs = _differences(run_identity(old), run_identity(cfg))
    if diffs:
        raise ConfigError(f"cannot resume {out}: the run there differs in "
                          f"{'; '.join(diffs)}; choose another --out for a new run")


def check_trainable(ds: FaceDataset, splits: Splits) -> None:
    """Refuse data no classifier can be trained on: one class, or a class without
    training samples (an empty class folder, say)."""
    labels = ds.label_set.labels
    if len(labels) < 2:
        raise DatasetError(f"{ds.name}: only one class ({', '.join(labels) or 'none'}) in "
                           f"{len(ds)} samples; an expression classifier needs at least two")
    counts = np.bincount(splits.train.hard_targets, minlength=len(labels))
    empty = [c for c, n in zip(labels, counts) if n == 0]
    if empty:
        folders = ds.info.get("empty_classes") or []
        hint = (f" (empty class folder{'s' if len(folders) > 1 else ''}: {', '.join(folders)})"
                if folders else "")
        raise DatasetError(f"{ds.name}: class{'es' if len(empty) > 1 else ''} "
                           f"{', '.join(empty)} ha{'ve' if len(empty) > 1 else 's'} no training "
                           f"samples{hint}; every class of the label set "
                           f"({len(labels)} classes) needs some: add images or remove the class")


def check_resume_state(state: dict, ds: FaceDataset, splits: Splits, path: Path) -> None:
    """Refuse to continue a checkpoint over other labels or another split membership."""
    if list(state["labels"]) != list(ds.label_set.labels):
        raise DatasetError(f"cannot resume {path.parent}: it was trained on labels "
                           f"{', '.join(state['labels'])}, the data now has "
                           f"{', '.join(ds.label_set.labels)}")
    before = state.get("splits")
    if before:
        now = describe(splits)
        changed = [f"{role} ({before[role]['samples']} samples there, "
                   f"{now.get(role, {}).get('samples', 0)} now)"
                   for role in before if now.get(role, {}).get("digest") != before[role]["digest"]]
        if changed:
            raise DatasetError(f"cannot resume {path.parent}: the data changed since it started: "
                               f"other samples in {', '.join(changed)}")


@dataclass
class RunPlan:
    """A checked run, ready to train: nothing has been written yet."""

    cfg: TrainConfig
    out: Path
    dataset: FaceDataset
    splits: Splits
    resume_state: dict | None      # last.ckpt of the run being continued
    init: InitWeights | None = None   # weights to start from (--init)


def plan_run(cfg: TrainConfig, out_dir: str | Path, resume: bool = False,
             dataset: FaceDataset | None = None, progress: bool = True) -> RunPlan:
    """Every check a run needs before it writes anything (see the module doc)."""
    init = None
    if cfg.init_weights:
        init = resolve_init(cfg.init_weights)
        changed = adopt_input(cfg, init)
        if changed:
            log.info(f"--init {cfg.init_weights}: architecture and input from it ({'; '.join(changed)})")
    cfg.validate()
    check_model_name(cfg.model)
    get_augment(cfg.augment)
    for teacher in check_distill(cfg.distill)["teachers"] if cfg.distill else []:
        find_checkpoints(teacher)          # a missing teacher is refused before anything is written
    out = Path(out_dir)
    check_run_dir(cfg, out, resume)
    ds = dataset if dataset is not None else load_dataset(cfg.data, cfg.image_size, cfg.channels,
                                                          progress)
    splits = resolve_splits(ds, cfg.data)
    check_trainable(ds, splits)
    state = None
    if resume and (out / "last.ckpt").is_file():
        state = read_checkpoint(out / "last.ckpt")
        check_resume_state(state, ds, splits, out / "last.ckpt")
    return RunPlan(cfg, out, ds, splits, state, init)


# --- the steps of a run ------------------------------------------------------------------------

def _soft_targets(targets: torch.Tensor, num_classes: int, smoothing: float) -> torch.Tensor:
    y = F.one_hot(targets, num_classes).float() if targets.ndim == 1 else targets.float()
    if smoothing:
        y = y * (1 - smoothing) + smoothing / num_classes
    return y


def lr_at(cfg: TrainConfig, epoch_float: float) -> float:
    """The learning rate at a fractional epoch: warm-up, then the schedule."""
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
    raise ConfigError(f"unknown schedule {cfg.schedule!r}")


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
    raise ConfigError(f"unknown optimizer {cfg.optimizer!r}")


@dataclass
class TrainingTensors:
    x_train: torch.Tensor          # uint8 (N, C, image_size, image_size)
    y_train: torch.Tensor          # class indices or soft targets
    x_val: torch.Tensor
    y_val: torch.Tensor            # class indices
    num_classes: int
    class_weights: torch.Tensor | None     # balance: loss
    sample_weights: torch.Tensor | None    # balance: sampler


def prepare_tensors(plan: RunPlan, device: torch.device) -> TrainingTensors:
    """The training and validation images as tensors, with the class balancing."""
    cfg = plan.cfg
    train_ds = plan.splits.train
    if cfg.max_train_samples and len(train_ds) > cfg.max_train_samples:
        rng = np.random.default_rng(cfg.seed)
        train_ds = train_ds.subset(np.sort(rng.choice(len(train_ds), cfg.max_train_samples,
                                                      replace=False)))
    num_classes = len(plan.dataset.label_set)
    counts = np.bincount(train_ds.hard_targets, minlength=num_classes).astype(np.float64)
    class_weights = sample_weights = None
    if cfg.balance == "loss":
        w = counts.sum() / np.maximum(counts, 1) / num_classes
        class_weights = torch.tensor(w, dtype=torch.float32, device=device)
    elif cfg.balance == "sampler":
        sample_weights = torch.from_numpy(1.0 / np.maximum(counts, 1))[train_ds.hard_targets]
    return TrainingTensors(model_images(train_ds.images, cfg), torch.from_numpy(train_ds.targets),
                           model_images(plan.splits.val.images, cfg),
                           torch.from_numpy(plan.splits.val.hard_targets), num_classes,
                           class_weights, sample_weights)


def build_model(cfg: TrainConfig, num_classes: int, device: torch.device) -> nn.Module:
    model = model_from_config(cfg, num_classes).to(device)
    return model.to(memory_format=torch.channels_last)


@dataclass
class RunState:
    """Where a run stands: the next epoch, the best epoch so far, time spent before this session."""

    start_epoch: int = 0
    best: dict | None = None
    elapsed_before: float = 0.0

    def __post_init__(self) -> None:
        self.best = self.best or {"acc": -1.0, "loss": float("inf"), "epoch": -1}


def restore(state: dict | None, model: nn.Module, opt: torch.optim.Optimizer,
            gen: torch.Generator) -> RunState:
    """Load a resumed run's weights, optimizer and random state; a fresh run starts at 0."""
    if state is None:
        return RunState()
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["optimizer"])
    gen.set_state(state["generator"])
    torch.set_rng_state(state["torch_rng"])
    return RunState(state["epoch"] + 1, dict(state["best"]), float(state["wall_time_s"]))


def train_one_epoch(model, opt, data: TrainingTensors, cfg: TrainConfig, epoch: int, aug,
                    gen: torch.Generator, device: torch.device, bar, task,
                    teachers: TeacherEnsemble | None = None) -> dict:
    """One pass over the training set; returns its loss, accuracy and last learning rate.
    With ``teachers`` the loss is :func:`~ferkit.train.distill.distillation_loss`."""
    model.train()
    n_train = len(data.x_train)
    steps = max(n_train // cfg.batch_size, 1)
    if data.sample_weights is not None:
        order = torch.multinomial(data.sample_weights, n_train, replacement=True, generator=gen)
    else:
        order = torch.randperm(n_train, generator=gen)
    loss_sum = correct = seen = 0.0
    lr = cfg.lr
    kd = check_distill(cfg.distill) if teachers is not None else None
    for step in range(steps):
        lr = lr_at(cfg, epoch + step / steps)
        for g in opt.param_groups:
            g["lr"] = lr
        idx = order[step * cfg.batch_size:(step + 1) * cfg.batch_size]
        x = data.x_train[idx].float() / 255
        x = augment_batch(x, aug, cfg.input_size, train=True, generator=gen)
        y = _soft_targets(data.y_train[idx], data.num_classes, cfg.label_smoothing)
        x, y = mix_batch(x, y, aug, gen)
        x = x.to(device)
        y = y.to(device)
        with autocast(device, cfg.amp):
            logits = model(normalize(x, cfg).contiguous(memory_format=torch.channels_last))
        if teachers is not None:
            loss = distillation_loss(logits, teachers.probabilities(x, kd["temperature"]), y,
                                     kd["temperature"], kd["weight"])
        else:
            per = -(y * F.log_softmax(logits.float(), 1))
            if data.class_weights is not None:
                per = per * data.class_weights
            loss = per.sum(1).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        n = len(idx)
        loss_sum += float(loss.detach()) * n
        correct += float((logits.argmax(1) == y.argmax(1)).sum())
        seen += n
        bar.update(task, advance=1, description=(
            f"epoch {epoch + 1}/{cfg.epochs} loss {loss_sum / seen:.3f} acc {correct / seen:.3f}"))
    return {"loss": loss_sum / seen, "acc": correct / seen, "lr": lr}


def validate(model, data: TrainingTensors, cfg: TrainConfig, device: torch.device) -> dict:
    """Validation loss and accuracy with flip TTA (what best.ckpt is selected on)."""
    logits = predict_logits(model, data.x_val, cfg, "flip", device, batch_size=512, amp=cfg.amp)
    return {"loss": float(F.cross_entropy(logits, data.y_val)),
            "acc": float((logits.argmax(1) == data.y_val).float().mean())}


def _append_csv(path: Path, row: dict) -> None:
    new = not path.exists()
    with open(path, "a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(row))
        if new:
            w.writeheader()
        w.writerow(row)


def save_epoch(plan: RunPlan, epoch: int, model, opt, gen, fit: dict, val: dict,
               progress: RunState, wall: float) -> bool:
    """Append the epoch to metrics.csv and checkpoint it (best.ckpt when it improved);
    returns whether validation accuracy improved."""
    out = plan.out
    row = {"epoch": epoch + 1, "lr": round(fit["lr"], 6), "train_loss": round(fit["loss"], 5),
           "train_acc": round(fit["acc"], 5), "val_loss": round(val["loss"], 5),
           "val_acc": round(val["acc"], 5), "wall_time_s": round(wall, 1)}
    _append_csv(out / "metrics.csv", row)
    improved = val["acc"] > progress.best["acc"]
    if improved:
        progress.best = {"acc": val["acc"], "loss": val["loss"], "epoch": epoch + 1}
    ls = plan.dataset.label_set
    state = {"config": plan.cfg.to_dict(), "epoch": epoch, "model": model.state_dict(),
             "optimizer": opt.state_dict(), "generator": gen.get_state(),
             "torch_rng": torch.get_rng_state(), "best": progress.best, "wall_time_s": wall,
             "label_set": ls.name, "labels": list(ls.labels), "hardware": hardware_description(),
             "splits": describe(plan.splits)}
    if improved:
        save_checkpoint(state, out / "best.ckpt")
    save_checkpoint(state, out / "last.ckpt")
    log.info(f"epoch {epoch + 1}: train loss {row['train_loss']:.3f} acc {row['train_acc']:.3f}"
             f" | val loss {val['loss']:.3f} acc {val['acc']:.4f}{' *' if improved else ''}")
    return improved


def draw_curves(out: Path) -> None:
    """Redraw ``curves.png`` from ``metrics.csv``."""
    if (out / "metrics.csv").is_file():
        plot_curves([read_run(out)], out / "curves.png")


@dataclass
class TrainResult:
    out_dir: Path
    best_checkpoint: Path
    best_val_accuracy: float
    best_val_loss: float
    best_epoch: int
    epochs_run: int
    wall_time_s: float


def finish(plan: RunPlan, progress: RunState, epochs_run: int, wall: float,
           experiment_log: str | Path | None) -> TrainResult:
    """Draw the curves, write result.json (and the experiment-log row) for a finished run."""
    draw_curves(plan.out)
    best = progress.best
    result = TrainResult(plan.out, plan.out / "best.ckpt", best["acc"], best["loss"],
                         best["epoch"], epochs_run, wall)
    (plan.out / "result.json").write_text(json.dumps(
        {"best_val_accuracy": best["acc"], "best_val_loss": best["loss"],
         "best_epoch": best["epoch"], "epochs_run": epochs_run, "wall_time_s": wall,
         "hardware": hardware_description(), "splits": describe(plan.splits)}, indent=2))
    if experiment_log:
        log_experiment(experiment_log, plan.cfg, result)
    return result


def write_run_files(out: Path, cfg: TrainConfig, command: dict | None) -> None:
    """The run's config (and the command that started it), once every check has passed."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        cfg.save(out / "config.json")
        if command is not None:
            (out / "command.json").write_text(json.dumps(command, indent=2) + "\n")
    except OSError as e:
        raise OutputError(f"cannot write the run folder {out}: {e.strerror or e}") from None


def run_plan(plan: RunPlan, progress: bool = True,
             experiment_log: str | Path | None = None) -> TrainResult:
    """Train a checked :class:`RunPlan` (its config and command are written already)."""
    cfg = plan.cfg
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    data = prepare_tensors(plan, device)
    model = build_model(cfg, data.num_classes, device)
    opt = make_optimizer(cfg, model)
    aug = get_augment(cfg.augment)
    gen = torch.Generator().manual_seed(cfg.seed)
    if plan.init is not None and plan.resume_state is None:
        log.info(f"fine-tuning: {load_init(model, plan.init, list(plan.dataset.label_set.labels))}")
    state = restore(plan.resume_state, model, opt, gen)
    teachers = None
    if cfg.distill:
        teachers = load_teachers(check_distill(cfg.distill), list(plan.dataset.label_set.labels),
                                 device)
        log.info(f"distilling from {len(teachers.teachers)} teacher(s)")
    if plan.resume_state is not None:
        log.info(f"resuming {plan.out} after epoch {state.start_epoch} of {cfg.epochs}")
    steps = max(len(data.x_train) // cfg.batch_size, 1)
    t0 = curves_at = time.time()
    epoch = state.start_epoch - 1
    with progress_bar(progress) as bar:
        task = bar.add_task("train", total=max(cfg.epochs - state.start_epoch, 0) * steps)
        for epoch in range(state.start_epoch, cfg.epochs):
            if cfg.freeze_epochs:
                set_frozen(model, epoch < cfg.freeze_epochs)
            fit = train_one_epoch(model, opt, data, cfg, epoch, aug, gen, device, bar, task,
                                  teachers)
            val = validate(model, data, cfg, device)
            save_epoch(plan, epoch, model, opt, gen, fit, val, state,
                       state.elapsed_before + time.time() - t0)
            if time.time() - curves_at > CURVES_EVERY_S:
                draw_curves(plan.out)       # watchable during long runs; always at the end
                curves_at = time.time()
            if cfg.early_stopping and epoch + 1 - state.best["epoch"] >= cfg.early_stopping:
                log.info(f"early stopping: no better validation accuracy for "
                         f"{cfg.early_stopping} epochs")
                break
    return finish(plan, state, epoch + 1, state.elapsed_before + time.time() - t0,
                  experiment_log)


def train(cfg: TrainConfig, out_dir: str | Path, resume: bool = False,
          dataset: FaceDataset | None = None, progress: bool = True,
          experiment_log: str | Path | None = None, command: dict | None = None) -> TrainResult:
    """Train ``cfg`` into ``out_dir`` (``last.ckpt``, ``best.ckpt``, ``metrics.csv``,
    ``curves.png``, ``result.json``).

    A folder that already holds a run is refused unless ``resume``; resuming
    continues from ``out_dir/last.ckpt`` and must match the run's data, split,
    architecture and labels. ``experiment_log`` (a CSV) gets one row per
    finished run; ``command`` is recorded as ``command.json``.
    """
    plan = plan_run(cfg, out_dir, resume, dataset, progress)
    write_run_files(plan.out, cfg, command)
    return run_plan(plan, progress, experiment_log)


def train_ensemble(cfg: TrainConfig, out_dir: str | Path, resume: bool = False,
                   dataset: FaceDataset | None = None, progress: bool = True,
                   experiment_log: str | Path | None = None,
                   command: dict | None = None) -> list[TrainResult]:
    """Train each of ``cfg.members()`` into ``out_dir/member-<i>``, one after another.

    The data is loaded and split once (by ``data.split_seed``), so every member
    trains and validates on the same samples; every member's checks pass before
    anything is written. Each member checkpoints on its own, so ``resume``
    continues an interrupted ensemble where it stopped. ``ferkit export out_dir``
    exports the members' best checkpoints as one model.
    """
    out = Path(out_dir)
    cfg.validate()
    check_run_dir(cfg, out, resume)
    if dataset is None:
        dataset = load_dataset(cfg.data, cfg.image_size, cfg.channels, progress)
    plans = [plan_run(member, member_dir(out, i), resume, dataset, progress)
             for i, member in enumerate(cfg.members())]
    write_run_files(out, cfg, command)
    results = []
    for plan in plans:
        write_run_files(plan.out, plan.cfg, None)
        results.append(run_plan(plan, progress, experiment_log))
    return results


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

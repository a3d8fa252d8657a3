"""Checkpoint → ONNX model + model card, measured on the exported file itself.

The graph takes ``(N, C, image_size, image_size)`` float32, normalised with
the card's mean/std, centre-crops to the network's ``input_size`` when that is
smaller, optionally averages the logits of the mirrored view (flip TTA, as
validation during training), and returns logits; the batch axis is dynamic.
Several checkpoints trained on the same data and input export as one graph
that averages their logits (an ensemble in one file, one card).
Weights are stored as float16 by default (computed in float32; half the file
size). Every figure written into the card is measured by running the written
ONNX file through :class:`ferkit.classify.ExpressionClassifier`.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import os
import platform
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ferkit.card import AlignSpec, InputSpec, ModelCard, PriorCorrection, card_path_for
from ferkit.errors import ConfigError, ModelError, OutputError, UsageError
from ferkit.preprocess import normalize as normalize_pixels
from ferkit.runtime import create_session

from .calibrate import estimate_prior, fit_temperature
from .checkpoint import LoadedCheckpoint, load_checkpoint
from .config import TrainConfig
from .datasets import load_dataset
from .datasets.preprocess import apply_mode
from .evaluate import evaluate_onnx
from .onnx_inference import load_onnx_model, onnx_outputs
from .splits import Splits, describe, resolve_splits

log = logging.getLogger(__name__)

OPSET = 18
PARITY_TOLERANCE = 1e-4
WEIGHT_FORMATS = ("float16", "float32")
QUANTIZE_MODES = ("dynamic", "static")


class ExportGraph(nn.Module):
    """Normalised ``(N, C, image_size, image_size)`` input → logits, crop and flip TTA inside."""

    def __init__(self, model: nn.Module, image_size: int, input_size: int, flip: bool) -> None:
        super().__init__()
        margin = image_size - input_size
        if margin < 0 or margin % 2:
            raise ConfigError(f"export needs image_size - input_size to be even and >= 0, "
                             f"got {image_size} - {input_size}")
        self.model = model
        self.lo, self.hi = margin // 2, margin // 2 + input_size
        self.flip = flip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[..., self.lo:self.hi, self.lo:self.hi]
        if not self.flip:
            return self.model(x)
        # One pass over the batch and its mirror, so the graph holds each weight once.
        n = x.shape[0]
        logits = self.model(torch.cat([x, x.flip(-1)]))
        return (logits[:n] + logits[n:]) / 2


class EnsembleGraph(nn.Module):
    """Mean of the logits of several :class:`ExportGraph` members (same input, same labels)."""

    def __init__(self, members: list[ExportGraph]) -> None:
        super().__init__()
        if not members:
            raise UsageError("an ensemble needs at least one member")
        self.members = nn.ModuleList(members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([m(x) for m in self.members]).mean(0)


def build_graph(checkpoints: list[LoadedCheckpoint], flip: bool) -> nn.Module:
    """The export graph of one checkpoint, or the logit-averaging ensemble of several."""
    graphs = [ExportGraph(ck.model.float().cpu().eval(), ck.config.image_size,
                          ck.config.input_size, flip) for ck in checkpoints]
    return graphs[0] if len(graphs) == 1 else EnsembleGraph(graphs)


def split_identity(data) -> dict:
    """What decides a data config's split membership (everything but preprocessing)."""
    d = asdict(data)
    d.pop("preprocess")
    return d


def check_compatible(checkpoints: list[LoadedCheckpoint]) -> None:
    """Raise unless every checkpoint reads the same input, predicts the same labels and was
    trained on the same data split (so no member trained on the samples the card reports
    as validation or test)."""
    first = checkpoints[0]
    c0 = first.config
    for ck in checkpoints[1:]:
        c = ck.config
        diffs = [what for what, a, b in (
            ("labels", first.label_set.labels, ck.label_set.labels),
            ("image_size", c0.image_size, c.image_size), ("channels", c0.channels, c.channels),
            ("mean/std", (c0.mean, c0.std), (c.mean, c.std)),
            ("preprocess", c0.data.preprocess, c.data.preprocess),
            ("data", split_identity(c0.data), split_identity(c.data))) if a != b]
        if diffs:
            raise ModelError(f"cannot ensemble {first.path} and {ck.path}: they differ in "
                             + ", ".join(diffs))


def fold_batchnorm(module: nn.Module) -> nn.Module:
    """A copy with every ``Conv2d`` directly followed by ``BatchNorm2d`` in a
    ``Sequential`` merged into one convolution (eval mode; same function)."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    folded = copy.deepcopy(module).eval()
    for seq in folded.modules():
        if not isinstance(seq, nn.Sequential):
            continue
        for i in range(len(seq) - 1):
            if isinstance(seq[i], nn.Conv2d) and isinstance(seq[i + 1], nn.BatchNorm2d):
                seq[i] = fuse_conv_bn_eval(seq[i], seq[i + 1])
                seq[i + 1] = nn.Identity()
    return folded


def round_weights_to_float16(module: nn.Module) -> nn.Module:
    """A copy whose weight tensors (2-D and up) hold float16-representable values.

    Batch norms are folded first, so the exported graph's weights are exactly
    these tensors and storing them as float16 loses nothing further.
    """
    rounded = fold_batchnorm(module)
    with torch.no_grad():
        for p in rounded.parameters():
            if p.ndim >= 2:
                p.copy_(p.half().float())
    return rounded


def _store_float16(path: Path) -> int:
    """Store float32 initializers of 2+ dims that are exactly float16 as float16 + Cast."""
    import onnx
    from onnx import helper, numpy_helper

    m = onnx.load(str(path))
    g = m.graph
    casts, converted = [], 0
    for init in list(g.initializer):
        if init.data_type != onnx.TensorProto.FLOAT or len(init.dims) < 2:
            continue
        w = numpy_helper.to_array(init)
        h = w.astype(np.float16)
        if not np.array_equal(h.astype(np.float32), w):
            continue
        new = numpy_helper.from_array(h, init.name + "_fp16")
        g.initializer.remove(init)
        g.initializer.append(new)
        casts.append(helper.make_node("Cast", [new.name], [init.name], to=onnx.TensorProto.FLOAT,
                                      name=f"cast_{init.name}"))
        converted += 1
    for i, node in enumerate(casts):
        g.node.insert(i, node)
    onnx.checker.check_model(m)
    onnx.save(m, str(path))
    return converted


def export_graph(graph: ExportGraph, path: Path, channels: int, image_size: int) -> None:
    """Write ``graph`` as a single-file ONNX model with a dynamic batch axis."""
    import warnings

    path.parent.mkdir(parents=True, exist_ok=True)
    example = torch.zeros(2, channels, image_size, image_size)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(graph.eval(), (example,), str(path), opset_version=OPSET,
                          input_names=["input"], output_names=["logits"],
                          dynamic_shapes={"x": {0: torch.export.Dim("batch")}},
                          dynamo=True, external_data=False, verbose=False)


def onnx_logits(path: Path, x: np.ndarray) -> np.ndarray:
    sess = create_session(path, threads=1)
    return sess.run(None, {sess.get_inputs()[0].name: x})[0]


def latency_ms(path: Path, x: np.ndarray, runs: int = 20, threads: int = 1) -> float:
    """Median wall time of one ONNX Runtime call on ``x``, in milliseconds."""
    sess = create_session(path, threads=threads)
    name = sess.get_inputs()[0].name
    sess.run(None, {name: x})
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        sess.run(None, {name: x})
        times.append(time.perf_counter() - t)
    return float(np.median(times) * 1000)


@dataclass
class ExportResult:
    onnx_path: Path
    card: ModelCard
    parity_max_abs_diff: float
    quantized: Path | None = None


def graph_input(images: np.ndarray, cfg: TrainConfig, preprocess: str | bool) -> np.ndarray:
    """Dataset crops as the exported graph's normalised float32 input, with the pixel
    transform the card says (``preprocess``: a mode; ``True``/``False``: CLAHE or none)."""
    mode = {True: "clahe", False: "none"}.get(preprocess, preprocess)
    x = normalize_pixels(apply_mode(images, mode), cfg.mean, cfg.std)
    if cfg.channels == 3 and x.shape[1] == 1:
        x = np.repeat(x, 3, 1)
    return x


def command_for(checkpoint: Path) -> list[str] | None:
    """The command line ``ferkit train`` recorded beside the checkpoint (or, for an
    ensemble member, beside its member folder), if any."""
    for folder in (checkpoint.parent, checkpoint.parent.parent):
        f = folder / "command.json"
        if f.is_file():
            return json.loads(f.read_text(encoding="utf-8")).get("argv")
    return None


# --- the steps of an export --------------------------------------------------------------------

def check_export_options(out_path: Path, weights: str, quantize: str | None) -> None:
    if weights not in WEIGHT_FORMATS:
        raise UsageError(f"weights must be one of {', '.join(WEIGHT_FORMATS)}, not {weights!r}")
    if quantize is not None and quantize not in QUANTIZE_MODES:
        raise UsageError(f"quantize must be one of {', '.join(QUANTIZE_MODES)}, not {quantize!r}")
    if out_path.suffix != ".onnx":
        raise UsageError(f"output must be an .onnx path, not {out_path}")
    if out_path.is_dir():
        raise OutputError(f"{out_path} is a folder; --out names the .onnx file to write")


def load_members(checkpoint) -> list[LoadedCheckpoint]:
    """The checkpoints to export (paths or loaded), checked to share input and labels."""
    items = checkpoint if isinstance(checkpoint, (list, tuple)) else [checkpoint]
    members = [c if isinstance(c, LoadedCheckpoint) else load_checkpoint(c) for c in items]
    if not members:
        raise UsageError("nothing to export: no checkpoint given")
    check_compatible(members)
    return members


def write_model(members: list[LoadedCheckpoint], out_path: Path, flip_tta: bool,
                weights: str) -> tuple[nn.Module, nn.Module, int]:
    """Write the ONNX graph; returns the float32 graph, the exported reference (float16
    rounded when ``weights`` is float16) and how many tensors are stored as float16."""
    cfg = members[0].config
    graph = build_graph(members, flip_tta)
    reference = round_weights_to_float16(graph) if weights == "float16" else graph
    export_graph(reference, out_path, cfg.channels, cfg.image_size)
    converted = _store_float16(out_path) if weights == "float16" else 0
    return graph, reference, converted


def check_parity(graph: nn.Module, reference: nn.Module, out_path: Path,
                 x: np.ndarray) -> tuple[float, float]:
    """Largest |ONNX - torch| logit difference on real images (raises when export is broken),
    and how much float16 rounding moved the logits."""
    with torch.no_grad():
        ref = reference(torch.from_numpy(x)).numpy()
        unrounded = graph(torch.from_numpy(x)).numpy()
    parity = float(np.abs(onnx_logits(out_path, x) - ref).max())
    if parity > PARITY_TOLERANCE:
        raise ModelError(f"ONNX output differs from torch by {parity:.2e} "
                         f"(> {PARITY_TOLERANCE:.0e}): this architecture does not export "
                         "faithfully")
    return parity, float(np.abs(ref - unrounded).max())


def initial_card(members: list[LoadedCheckpoint], out_path: Path, name: str | None,
                 description: str, dataset_name: str) -> ModelCard:
    """The card of the exported file before anything is measured (temperature 1)."""
    from ferkit import __version__

    ck, cfg = members[0], members[0].config
    architecture = "+".join(m.config.model for m in members)
    pre = cfg.data.preprocess
    label_set = ck.label_set
    return ModelCard(
        name=name or out_path.stem, labels=list(label_set.labels), label_set=label_set.name,
        architecture=architecture, parameters=int(sum(p.numel() for m in members
                                                      for p in m.model.parameters())),
        input=InputSpec(size=cfg.image_size, channels=cfg.channels, mean=cfg.mean, std=cfg.std,
                        preprocess=cfg.data.preprocess_mode),
        align=AlignSpec(template=pre.get("template", "fer2013"), margin=float(pre.get("margin", 0.0))),
        temperature=1.0, ferkit_version=__version__,
        description=description or (
            (cfg.model if len(members) == 1 else f"ensemble of {len(members)} ({architecture})")
            + f" trained on {dataset_name} ({cfg.data.kind}), {len(label_set)} classes"))


class _RememberedLogits:
    """Logits the exported file gave, by batch content: the temperature is fitted on
    the validation split's logits and its metrics come from the same logits, so the
    file runs over that split once. Holds ``(batch, classes)`` floats per batch."""

    def __init__(self) -> None:
        self._logits: dict[bytes, np.ndarray] = {}

    def classifier(self, out_path: Path):
        """The file's classifier (its card as saved now) answering from memory where it can."""
        from ferkit.classify import ExpressionClassifier

        remembered = self._logits

        class Remembering(ExpressionClassifier):
            def logits(self, crops: np.ndarray) -> np.ndarray:
                key = hashlib.blake2b(np.ascontiguousarray(crops).tobytes(), digest_size=16).digest()
                if key not in remembered:
                    remembered[key] = super().logits(crops)
                return remembered[key]

        return Remembering(out_path)


def calibrate_card(card: ModelCard, out_path: Path, val, progress: bool, classifier=None):
    """Fit the temperature on the validation samples through the exported file
    (``classifier``: the file's, if one is at hand), and record the class prior the
    model learned there, so that ``--prior-correction`` can be turned on (it stays off)."""
    logits = onnx_outputs(classifier or load_onnx_model(out_path), val.images, "logits", progress=progress)
    calibration = fit_temperature(logits, val.hard_targets)
    card.temperature = calibration.temperature
    card.prior_correction = PriorCorrection(
        estimate_prior(logits, card.temperature), tau=0.0,
        source=f"mean calibrated prediction on the validation split ({len(val)} samples)")
    card.save(card_path_for(out_path))
    return calibration


def measure(out_path: Path, splits: Splits, calibrated: bool, progress: bool,
            remembered: _RememberedLogits | None = None) -> dict:
    """``(report, card notes)`` of the written file on the validation and test samples, by
    split name (with the card as saved now; logits ``remembered`` from calibration reused)."""
    reports = {}
    model = remembered.classifier(out_path) if remembered is not None else out_path
    for role, part, split in splits.parts():
        if role == "train":
            continue
        rep = evaluate_onnx(model, dataset=part, split="all", progress=progress)
        rep.split = split
        notes = ("calibrated on " + splits.names["val"]) if calibrated and role != "val" else ""
        reports[split] = (rep, notes)
    return reports


def training_provenance(members: list[LoadedCheckpoint], dataset, splits: Splits,
                        calibration, export_info: dict) -> dict:
    """The card's ``training`` section: data, split membership, members, time, export facts."""
    cfg = members[0].config
    return {
        "data": asdict(cfg.data), "dataset": dataset.name, "splits": describe(splits),
        "max_train_samples": cfg.max_train_samples,
        # An ensemble's members differ in seed, epochs, ...: each keeps its own provenance.
        **(provenance(members[0]) if len(members) == 1 else {
            "config": cfg.to_dict(), "ensemble": "mean of the members' logits",
            "members": [provenance(m) for m in members],
            "hardware": ", ".join(sorted({m.hardware for m in members}))}),
        "wall_time_s": sum(m.wall_time_s for m in members),
        "calibration": calibration.to_dict() if calibration else None, "export": export_info,
    }


def export_onnx(checkpoint, out_path: str | os.PathLike, *, name: str | None = None,
                flip_tta: bool = True, weights: str = "float16", calibrate: bool = True,
                quantize: str | None = None, dataset=None, measure_flip_cost: bool = True,
                description: str = "", progress: bool = True) -> ExportResult:
    """Export a checkpoint to ``out_path`` (``.onnx``) with its card beside it.

    ``checkpoint`` may also be a list: the checkpoints (same labels, input and
    data) export as one graph averaging their logits, and the card lists every
    member. ``calibrate`` fits the temperature on the validation split;
    accuracy, macro-F1, ECE and NLL are then measured on the validation and test
    splits — the split :func:`ferkit.train.splits.resolve_splits` gave training
    (``dataset`` replaces loading the checkpoints' training data). ``quantize``
    (``dynamic`` or ``static``) also writes ``<name>.int8.onnx`` with its own
    card and its own measured accuracy.
    """
    out_path = Path(out_path)
    check_export_options(out_path, weights, quantize)
    members = load_members(checkpoint)
    cfg = members[0].config
    if dataset is None:
        dataset = load_dataset(cfg.data.with_preprocess("none"), cfg.image_size, cfg.channels,
                               progress)
    splits = resolve_splits(dataset, cfg.data)
    say = log.info if progress else log.debug

    say(f"export: {'+'.join(m.config.model for m in members)} to {out_path} (opset {OPSET}, "
        f"{weights} weights, flip TTA {'on' if flip_tta else 'off'})")
    graph, reference, converted = write_model(members, out_path, flip_tta, weights)
    x = graph_input(splits.val.images[:64], cfg, cfg.data.preprocess_mode)
    parity, rounding = check_parity(graph, reference, out_path, x)

    card = initial_card(members, out_path, name, description, dataset.name)
    card.save(card_path_for(out_path))
    calibration = None
    remembered = _RememberedLogits()
    if calibrate:
        say(f"export: fitting the temperature on {splits.names['val']} ({len(splits.val)} samples)")
        calibration = calibrate_card(card, out_path, splits.val, progress, remembered.classifier(out_path))
    reports = measure(out_path, splits, calibrate, progress, remembered)
    card.metrics = [m for rep, notes in reports.values() for m in rep.card_metrics(notes=notes)]

    export_info = {
        "opset": OPSET, "weights": weights, "float16_tensors": converted,
        "tta": "flip" if flip_tta else "none", "input_size": cfg.input_size,
        "parity_max_abs_diff": parity, "float16_rounding_max_abs_logit_change": rounding,
        "file_bytes": out_path.stat().st_size, "exported_with": f"torch {torch.__version__}",
    }
    eval_part, eval_name = ((splits.test, splits.names["test"]) if splits.test is not None
                            else (splits.val, splits.names["val"]))
    if flip_tta and measure_flip_cost:
        say("export: measuring the cost of flip TTA (latency, accuracy without it)")
        export_info["flip_tta_cost"] = _flip_cost(members, weights, out_path, eval_part,
                                                  eval_name, x, card, reports[eval_name][0])
    card.training = training_provenance(members, dataset, splits, calibration, export_info)
    card.save(card_path_for(out_path))

    quantized = None
    if quantize:
        say(f"export: int8 {quantize} quantisation")
        quantized = quantize_model(out_path, card, members, quantize, splits.train, eval_part,
                                   eval_name, progress)
        card.training["export"]["quantized"] = {
            "file": quantized.name, "mode": quantize,
            "file_bytes": quantized.stat().st_size,
            "accuracy": ModelCard.load(card_path_for(quantized)).metric("accuracy", eval_name).value,
            "split": eval_name}
        card.save(card_path_for(out_path))
    return ExportResult(out_path, card, parity, quantized)


def provenance(ck: LoadedCheckpoint) -> dict:
    """Where one checkpoint came from: command, config, epochs, selection, time, hardware."""
    return {"command": command_for(ck.path), "config": ck.config.to_dict(),
            "checkpoint": ck.path.name, "epochs": ck.epoch, "best": ck.best,
            "wall_time_s": ck.wall_time_s, "hardware": ck.hardware}


def _flip_cost(members, weights, out_path, part, split, x, card, flip_report) -> dict:
    """Latency with and without the mirrored view, and the accuracy the flip buys."""
    cfg = members[0].config
    with tempfile.TemporaryDirectory() as tmp:
        plain = Path(tmp) / "noflip.onnx"
        g = build_graph(members, flip=False)
        export_graph(round_weights_to_float16(g) if weights == "float16" else g, plain,
                     cfg.channels, cfg.image_size)
        if weights == "float16":
            _store_float16(plain)
        plain_card = copy.deepcopy(card)
        plain_card.training = {}
        plain_card.save(card_path_for(plain))
        rep = evaluate_onnx(plain, dataset=part, split="all", progress=False)
        one, batch = x[:1], np.ascontiguousarray(np.resize(x, (64,) + x.shape[1:]))
        return {
            "split": split, "accuracy_with_flip": flip_report.accuracy,
            "accuracy_without_flip": rep.accuracy, "ece_without_flip": rep.ece,
            "latency_ms_batch1_with_flip": latency_ms(out_path, one),
            "latency_ms_batch1_without_flip": latency_ms(plain, one),
            "latency_ms_batch64_with_flip": latency_ms(out_path, batch, runs=5),
            "latency_ms_batch64_without_flip": latency_ms(plain, batch, runs=5),
            "threads": 1, "cpu": platform.processor() or platform.machine(),
        }


class _CalibrationReader:
    """Feeds normalised training crops to ONNX Runtime's static quantiser."""

    def __init__(self, x: np.ndarray, name: str, batch: int = 32) -> None:
        self.batches = iter([{name: x[i:i + batch]} for i in range(0, len(x), batch)])

    def get_next(self):
        return next(self.batches, None)


def store_weights_unsigned(path: Path) -> int:
    """Store the int8 weights of a QDQ graph as uint8 (value + 128, zero point + 128).

    The dequantized weights are identical, but ONNX Runtime then runs u8u8 kernels:
    its u8s8 kernels on x86 CPUs without VNNI add pairs of products in saturating
    16-bit registers, which cost the default model 1.8 points of FER2013
    PrivateTest accuracy on an AVX2-only CPU. Returns the number of weights changed.
    """
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    initializers = {i.name: i for i in model.graph.initializer}
    changed = 0
    for node in model.graph.node:
        if node.op_type != "DequantizeLinear" or len(node.input) < 3:
            continue
        weight, zero_point = initializers.get(node.input[0]), initializers.get(node.input[2])
        if weight is None or zero_point is None or weight.data_type != onnx.TensorProto.INT8:
            continue
        shifted = numpy_helper.to_array(weight).astype(np.int16) + 128
        weight.CopyFrom(numpy_helper.from_array(shifted.astype(np.uint8), weight.name))
        zp = numpy_helper.to_array(zero_point).astype(np.int16) + 128
        zero_point.CopyFrom(numpy_helper.from_array(zp.astype(np.uint8), zero_point.name))
        changed += 1
    onnx.save(model, str(path))
    return changed


WEIGHTED_OPS = ("Conv", "ConvTranspose", "Gemm", "MatMul")


def keep_logits_float(path: Path) -> int:
    """Drop the activation quantisation after a QDQ graph's last weighted layer (the classifier
    head's output, the flip average, the ensemble mean), so its logits stay float.

    Quantised there, the logits sat on an 8-bit grid: 1-2 % of faces got two classes with
    exactly equal probabilities, decided by label order (FER+ figures moved by 0.7 points with
    the order the classes were listed in), and the steps coarsened the calibrated
    probabilities. The removed operations are a handful of additions and slices: no speed
    cost. Returns the number of QuantizeLinear/DequantizeLinear pairs removed.
    """
    import onnx

    model = onnx.load(str(path))
    nodes = list(model.graph.node)
    consumers: dict[str, list] = {}
    for node in nodes:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    feeds_weights: dict[str, bool] = {}

    def reaches_weights(tensor: str) -> bool:
        if tensor not in feeds_weights:
            feeds_weights[tensor] = False            # graphs are acyclic; guards the recursion
            feeds_weights[tensor] = any(n.op_type in WEIGHTED_OPS or any(map(reaches_weights, n.output))
                                        for n in consumers.get(tensor, []))
        return feeds_weights[tensor]

    bypass, dropped = {}, set()
    for q in nodes:
        if q.op_type != "QuantizeLinear" or reaches_weights(q.input[0]):
            continue
        dqs = consumers.get(q.output[0], [])
        if dqs and all(d.op_type == "DequantizeLinear" for d in dqs):
            dropped.update(id(n) for n in (q, *dqs))
            bypass.update((d.output[0], q.input[0]) for d in dqs)
    if not dropped:
        return 0
    outputs = {o.name for o in model.graph.output}
    kept = [n for n in nodes if id(n) not in dropped]
    for node in kept:
        for i, name in enumerate(node.input):
            while name in bypass:
                name = bypass[name]
            node.input[i] = name
    for name, source in bypass.items():
        if name in outputs:                      # keep the graph's output name
            kept.append(onnx.helper.make_node("Identity", [source], [name]))
    del model.graph.node[:]
    model.graph.node.extend(kept)
    used = {name for n in kept for name in n.input}
    initializers = [i for i in model.graph.initializer if i.name in used]
    del model.graph.initializer[:]
    model.graph.initializer.extend(initializers)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return len(dropped) // 2


def quantize_model(float_path: Path, card: ModelCard, members: list[LoadedCheckpoint], mode: str,
                   calib_part, eval_part, eval_name: str, progress: bool = True,
                   calibration_samples: int = 512) -> Path:
    """int8 copy of the model (``<stem>.int8.onnx``) with its own card and measured metrics."""
    from onnxruntime.quantization import QuantType, quantize_dynamic, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    cfg = members[0].config

    out = float_path.with_name(float_path.stem + ".int8.onnx")
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = Path(tmp) / "fp32.onnx"
        export_graph(build_graph(members, card.training["export"]["tta"] == "flip"),
                     fp32, cfg.channels, cfg.image_size)
        prepped = Path(tmp) / "prepped.onnx"
        quant_pre_process(str(fp32), str(prepped), skip_symbolic_shape=True)
        if mode == "dynamic":
            # uint8 weights: see store_weights_unsigned for why not int8
            quantize_dynamic(str(prepped), str(out), weight_type=QuantType.QUInt8)
        else:
            rng = np.random.default_rng(cfg.seed)
            idx = rng.choice(len(calib_part), min(calibration_samples, len(calib_part)),
                             replace=False)
            imgs = calib_part.images[np.sort(idx)]
            x = graph_input(imgs, cfg, card.input.preprocess)
            quantize_static(str(prepped), str(out), _CalibrationReader(x, "input"),
                            weight_type=QuantType.QInt8, activation_type=QuantType.QUInt8,
                            per_channel=True)
            store_weights_unsigned(out)
            keep_logits_float(out)
    qcard = copy.deepcopy(card)
    qcard.name = card.name + "-int8"
    qcard.metrics = []
    if qcard.prior_correction is not None:
        qcard.prior_correction.source += ", of the float model"
    qcard.save(card_path_for(out))
    rep = evaluate_onnx(out, dataset=eval_part, split="all", progress=progress)
    rep.split = eval_name
    float_acc = card.metric("accuracy", eval_name)
    qcard.metrics = rep.card_metrics(notes=f"int8 {mode} quantisation; float model "
                                           f"{float_acc.value:.4f}" if float_acc else "")
    qcard.training["export"] = {**card.training["export"], "quantization": mode,
                                "weights": f"int8 ({mode}, per-channel)" if mode == "static" else "int8 (dynamic)",
                                "file_bytes": out.stat().st_size}
    qcard.training["export"].pop("flip_tta_cost", None)
    qcard.save(card_path_for(out))
    return out


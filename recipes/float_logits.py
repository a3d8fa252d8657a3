"""Re-issue a packaged int8 model whose logits were quantised, with float logits.

    python recipes/float_logits.py fer7-default

Files exported before ``ferkit.train.export.keep_logits_float`` quantised the
logits after the classifier heads to an 8-bit grid (exact ties between classes,
broken by label order). For a model with no float weights left to export again
(``fer7-default``, a two-network ensemble trained on this machine), this drops
that quantisation from the shipped file, fits the temperature again on the
validation split the card names, and measures every card metric again on the
split it names. Models from the GPU run are exported again instead
(``recipes/ship_models.py``), which now keeps logits float itself.
"""

from __future__ import annotations

import argparse

from ferkit.card import card_path_for
from ferkit.models import resolve_model
from ferkit.train.calibrate import estimate_prior, fit_temperature
from ferkit.train.config import DataConfig
from ferkit.train.datasets import load_dataset
from ferkit.train.evaluate import evaluate_onnx
from ferkit.train.export import keep_logits_float
from ferkit.train.onnx_inference import load_onnx_model, onnx_outputs
from ferkit.train.splits import resolve_splits

NOTE = "logits kept float after the heads (recipes/float_logits.py)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", help="packaged model name")
    args = ap.parse_args()

    path, card = resolve_model(args.model)
    removed = keep_logits_float(path)
    print(f"{path.name}: {removed} quantise/dequantise pairs after the heads removed")
    data = DataConfig.from_dict(card.training["data"])
    dataset = load_dataset(data.with_preprocess("none"), card.input.size, card.input.channels, True)
    splits = resolve_splits(dataset, data)
    clf = load_onnx_model(path)
    logits = onnx_outputs(clf, splits.val.images, "logits", progress=True)
    calibration = fit_temperature(logits, splits.val.hard_targets)
    print(f"temperature {card.temperature:.4f} -> {calibration.temperature:.4f} on {splits.names['val']}")
    card.temperature = calibration.temperature
    if card.prior_correction is not None:
        card.prior_correction.prior = estimate_prior(logits, card.temperature)
    card.training["calibration"] = calibration.to_dict()
    card.training["export"]["logits"] = NOTE
    card.save(card_path_for(path))

    reports = {}
    for metric in card.metrics:
        if metric.split not in reports:
            reports[metric.split] = evaluate_onnx(path, dataset=dataset, split=metric.split, progress=True)
        rep = reports[metric.split]
        if rep.samples != metric.samples:
            raise SystemExit(f"{metric.name} on {metric.split}: {rep.samples} samples, the card says "
                             f"{metric.samples}; card left as it was measured")
        print(f"{metric.name} {metric.split}: {metric.value:.4f} -> {getattr(rep, metric.name):.4f}")
        metric.value = float(getattr(rep, metric.name))
        metric.notes = "; ".join(filter(None, [metric.notes, NOTE]))
    card.save(card_path_for(path))


if __name__ == "__main__":
    main()

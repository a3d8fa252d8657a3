"""Turn the weights `recipes/gpu_models.py` brought back into ferkit's packaged models.

For each model: a ferkit checkpoint (``.gpu/ship/<name>/best.ckpt``) from the GPU state dict,
then ``ferkit.train.export.export_onnx`` with static int8 quantisation, which fits the
temperature on the validation split and measures every card figure on this machine from the
exported file; extra held-out figures (FER+ majority labels, held-out Korean people, posed
subjects) are measured the same way, through the shipped int8 file, and added to the card.
Finally the int8 model, its card and the float weights for fine-tuning (``--init``) are copied
into ``src/ferkit/models``.

    python recipes/ship_models.py --gpu-out .gpu/out --data ../shared/data
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import torch

from ferkit.card import Metric, ModelCard, card_path_for
from ferkit.labels import FER7, FERPLUS8, get_label_set
from ferkit.train.checkpoint import save_checkpoint
from ferkit.train.config import DataConfig, TrainConfig
from ferkit.train.datasets import load_dataset
from ferkit.train.datasets.base import FaceDataset
from ferkit.train.datasets.fer2013 import ferplus_majority_as_fer7, load_fer2013, load_ferplus
from ferkit.train.datasets.filenames import korean_aihub_data
from ferkit.train.evaluate import evaluate_onnx
from ferkit.train.export import export_onnx
from ferkit.train.splits import plan_splits

MODELS_DIR = Path(__file__).resolve().parents[1] / "src" / "ferkit" / "models"
TERMS = {
    "fer2013": "FER2013 (ICML 2013 representation-learning challenge, Kaggle): research use",
    "ferplus": "FER+ votes (Microsoft, MIT licence) for the same FER2013 images",
    "korean_aihub": "AIHub 한국인 감정인식을 위한 복합 영상 (NIA, Korea), via a public GitHub copy: research "
                    "use only, credit 'AI-Hub, 한국지능정보사회진흥원'; never redistributed",
    "bu3dfe_bosphorus_posed": "BU-3DFE (Yin et al. 2006) and Bosphorus (Savran et al. 2008) 2D faces: "
                              "non-commercial research licences; never redistributed",
    "web_contempt": "in-the-wild web face crops labelled contempt (AffectNet-like, student-cleaned): "
                    "research use; never redistributed",
}


def load_gpu_state(paths: list[Path]) -> tuple[dict, dict]:
    state, meta = {}, None
    for p in paths:
        part = torch.load(p, map_location="cpu", weights_only=True)
        state.update({k: v.float() if v.is_floating_point() else v for k, v in part["state"].items()})
        meta = meta or part["meta"]
    return state, meta


def write_checkpoint(state: dict, meta: dict, cfg: TrainConfig, labels, label_set: str,
                     path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint({"config": cfg.to_dict(), "epoch": meta["best_epoch"] - 1, "model": state,
                     "labels": list(labels), "label_set": label_set,
                     "best": {"score": meta["best_score"], "epoch": meta["best_epoch"]},
                     "wall_time_s": meta["wall_s"],
                     "hardware": meta.get("hardware", "GPU NVIDIA H200 (recipes/gpu_models.py)")}, path)
    return path


def save_init_weights(state: dict, arch: str, out: Path) -> None:
    """Float16 weights for ``ferkit train --init`` (numpy arrays: no pickle to load)."""
    np.savez_compressed(out, **{k: v.half().numpy() if v.is_floating_point() else v.numpy()
                                for k, v in state.items()}, __architecture__=np.array(arch))


def held_out_metric(model: Path, dataset: FaceDataset, name: str, notes: str) -> list[Metric]:
    rep = evaluate_onnx(model, dataset=dataset, split="all", progress=False)
    rep.dataset, rep.split = name, "held-out"
    out = rep.card_metrics(notes=notes)
    for cls, m in rep.per_class.items():
        if m.get("support"):
            out.append(Metric(f"recall_{cls}", float(m["recall"]), name, "held-out", rep.samples, notes))
    return out


CROPS = {"detector": "retinaface", "template": "fer2013", "margin": 0.0, "no_face": "center",
         "size": 48, "channels": 1}


def korean_people(data: Path, label_set: str | None) -> tuple[FaceDataset, DataConfig]:
    """korean_aihub as inference crops with each sample's role (train/val/test) in ``split``,
    and the data config that names those roles: the person split of ``korean_aihub_data``, the
    one the GPU run trained with."""
    config = korean_aihub_data(data / "korean_aihub", label_set, CROPS)
    ds = load_dataset(config, CROPS["size"], CROPS["channels"])
    ds.split = plan_splits(ds, config).roles
    return ds, dataclasses.replace(config, train_split="train", val_split="val", test_split="test")


def korean_fer7_test(data: Path) -> FaceDataset:
    """The held-out Korean people's 기쁨/분노/슬픔 images as FER-7 happy/angry/sad."""
    ds, _ = korean_people(data, None)
    names = list(ds.label_set.labels)
    keep = np.flatnonzero((ds.split == "test") & np.isin(
        [names[t] for t in ds.hard_targets], ["happy", "angry", "sad"]))
    test = ds.subset(keep, name="korean_aihub-test-people")
    test.targets = np.array([FER7.index(names[t]) for t in test.hard_targets])
    test.label_set = FER7
    return test


def restricted_metrics(model: Path, ds: FaceDataset, classes: list[str], name: str,
                       notes: str) -> list[Metric]:
    """Accuracy and per-class recall when the answer is the likeliest of ``classes`` only (a view
    of a model over a smaller label set, e.g. Korean-5's four classes present in korean6)."""
    from ferkit.classify import ExpressionClassifier

    clf = ExpressionClassifier(model, threads=2)
    keep = np.flatnonzero(np.isin([ds.label_set.labels[t] for t in ds.hard_targets], classes))
    cols = [clf.labels.index(c) for c in classes]
    crops = ds.images[keep]
    crops = np.repeat(crops[..., None], 3, -1) if crops.ndim == 3 else crops
    probs = np.concatenate([clf.predict(crops[i:i + 256]) for i in range(0, len(crops), 256)])
    pred = np.array(classes)[probs[:, cols].argmax(1)]
    truth = np.array([ds.label_set.labels[t] for t in ds.hard_targets[keep]])
    out = [Metric("accuracy", float((pred == truth).mean()), name, "held-out", len(keep), notes)]
    for c in classes:
        out.append(Metric(f"recall_{c}", float((pred[truth == c] == c).mean()), name, "held-out",
                          len(keep), notes))
    return out


def ship(name: str, ckpt: Path, dataset: FaceDataset, description: str, sets: list[str],
         extra: list, init_arch: str, state: dict, models_dir: Path = MODELS_DIR,
         init_weights: bool = True) -> ModelCard:
    work = ckpt.parent / f"{name}.onnx"
    res = export_onnx(ckpt, work, name=name, quantize="static", dataset=dataset,
                      description=description)
    int8 = res.quantized
    card = ModelCard.load(card_path_for(int8))
    for item in extra:
        card.metrics += item(int8) if callable(item) else held_out_metric(int8, *item)
    card.training["training_sets"] = [{"name": s, "terms": TERMS[s]} for s in sets]
    card.training["recipe"] = ["python recipes/pack_data.py --data ../shared/data --out .gpu/pack",
                               "PYTHONPATH=src python recipes/gpu_models.py --pack .gpu/pack --out $OUT",
                               "python recipes/ship_models.py --gpu-out .gpu/out"]
    card.name = name
    card.description = description
    models_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(int8, models_dir / f"{name}.onnx")
    card.save(models_dir / f"{name}.json")
    if init_weights:      # float weights for --init (left out where the package would pass 60 MB)
        save_init_weights(state, init_arch, models_dir / f"{name}.weights.npz")
    return card


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gpu-out", type=Path, default=Path(".gpu/out"))
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    ap.add_argument("--work", type=Path, default=Path(".gpu/ship"))
    ap.add_argument("--only", nargs="*", default=["fer7", "ferplus8", "korean6"])
    ap.add_argument("--fer7-name", default="fer7-default", help="packaged name of the FER-7 student")
    ap.add_argument("--models-dir", type=Path, default=MODELS_DIR, help="where the shipped files go")
    args = ap.parse_args()
    fer_csv = args.data / "fer2013" / "fer2013.csv.gz"
    votes = args.data / "fer2013" / "fer2013new.csv"
    summary = {}
    if "fer7" in args.only:
        state, meta = load_gpu_state([args.gpu_out / "fer7_student.pt"])
        spec = meta["spec"]
        cfg = TrainConfig(name=args.fer7_name, model=spec["arch"], channels=1, image_size=spec["image"],
                          input_size=spec["crop"], drop_rate=0.4, augment="robust",
                          data=DataConfig(kind="fer2013", path=str(fer_csv), votes=str(votes),
                                          label_mode="blend", blend=spec["blend"]),
                          notes="distilled student; see training.recipe")
        ck = write_checkpoint(state, meta, cfg, FER7.labels, "fer7", args.work / "fer7" / "best.ckpt")
        fer = load_fer2013(fer_csv)
        plus = load_ferplus(fer_csv, votes, "majority")
        extra = [(ferplus_majority_as_fer7(plus, "PrivateTest"), "ferplus-majority-fer7", "FER+ majority label on PrivateTest images "
                  "whose majority is one of the 7 FER2013 classes"),
                 (korean_fer7_test(args.data), "korean_aihub-test-people",
                  "기쁨/분노/슬픔 of held-out people as happy/angry/sad, argmax over all 7 classes")]
        summary["fer7"] = ship(args.fer7_name, ck, fer, (
            f"One {spec['arch']} student distilled from {len(meta['teachers'])} teachers "
            f"({', '.join(meta['teachers'])}) on FER2013 Training with FER+-blended targets "
            f"(weight {spec['blend']} on the FER2013 label), the happy/angry/sad images of "
            "korean_aihub training people and the posed studio training subjects; selected on "
            "PublicTest, PublicTest FER+ majority, held-out Korean people and posed subjects."),
            ["fer2013", "ferplus", "korean_aihub", "bu3dfe_bosphorus_posed"], extra, spec["arch"], state,
            args.models_dir)
    if "ferplus8" in args.only:
        state, meta = load_gpu_state([args.gpu_out / "ferplus8.a.pt", args.gpu_out / "ferplus8.b.pt"])
        spec = meta["spec"]
        cfg = TrainConfig(name="ferplus8", model=spec["arch"], channels=1, image_size=spec["image"],
                          input_size=spec["crop"], drop_rate=0.4, augment="robust",
                          data=DataConfig(kind="ferplus", path=str(fer_csv), votes=str(votes),
                                          label_mode="soft"),
                          notes="FER+ vote distributions + web contempt crops; see training.recipe")
        ck = write_checkpoint(state, meta, cfg, FERPLUS8.labels, "ferplus8",
                              args.work / "ferplus8" / "best.ckpt")
        plus = load_ferplus(fer_csv, votes, "majority")
        summary["ferplus8"] = ship("ferplus8", ck, plus, (
            f"{spec['arch']} (small-stem ResNet-18) trained from scratch on the FER+ vote "
            "distributions of FER2013 Training (8 classes) plus the web contempt crops, selected on "
            "PublicTest FER+ majority labels; metrics on FER+ majority labels (the FER+ paper's rule)."),
            ["fer2013", "ferplus", "web_contempt"], [], spec["arch"], state, args.models_dir,
            init_weights=False)
    if "korean6" in args.only:
        state, meta = load_gpu_state([args.gpu_out / "korean6.pt"])
        spec = meta["spec"]
        ds, korean = korean_people(args.data, "korean6")
        cfg = TrainConfig(name="korean6", model=spec["arch"], channels=1, image_size=spec["image"],
                          input_size=spec["crop"], drop_rate=0.4, augment="robust",
                          data=korean,
                          notes="korean_aihub, split by person; see training.recipe")
        ck = write_checkpoint(state, meta, cfg, get_label_set("korean6").labels, "korean6",
                              args.work / "korean6" / "best.ckpt")
        summary["korean6"] = ship("korean6", ck, ds, (
            f"{spec['arch']} trained from scratch on the six korean_aihub emotions (기쁨, 당황, 분노, "
            "불안, 상처, 슬픔) of 70 % of its people, selected on 15 % of the people, measured on "
            "the other 15 % (no person in two splits)."),
            ["korean_aihub"], [lambda model: restricted_metrics(
                model, ds.subset(np.flatnonzero(ds.split == "test")),
                ["happy", "embarrassed", "angry", "sad"], "korean_aihub-korean5-view",
                "held-out people; the likeliest of 기쁨/당황/분노/슬픔 (the Korean-5 classes this data has)")],
            spec["arch"], state, args.models_dir)
    print(json.dumps({k: [(m.name, m.split, round(m.value, 4)) for m in v.metrics if m.name == "accuracy"]
                      for k, v in summary.items()}, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()

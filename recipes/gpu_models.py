"""Train ferkit's shipped models and the study grids in one GPU command.

Run on a GPU machine from the repository root, after `recipes/pack_data.py` made `.gpu/pack`:

    PYTHONPATH=src python recipes/gpu_models.py --pack .gpu/pack --out $OUT --deadline 480

Jobs run as parallel processes on the one GPU, each with a time budget, and write what they
finish straight to ``--out`` (at most 8 files: the device tool brings back no more):

- five diverse FER-7 teachers (small-stem ResNet-18/34, a wide VGG at 64 px, FER2013-only and
  FER+-blended targets), then one ``fercnn_l`` student distilled from their mean prediction:
  ``fer7_student.pt``; the teachers' predictions on the training rows: ``teachers.npz``;
- ``ferplus8`` (resnet18s on FER+ vote distributions plus the contempt crops):
  ``ferplus8.a.pt`` + ``ferplus8.b.pt`` (one state dict in two halves, each under 16 MiB);
- ``korean6`` (fercnn_l on the six korean_aihub emotions, split by person): ``korean6.pt``;
- the architecture / factor grid on FER2013 and the Korean study rows: ``results.jsonl``
  (every job's and row's figures, one JSON object per line), and ``log.txt``.

Every model is selected on validation data only (PublicTest, held-out Korean people, held-out
posed subjects); FER2013 PrivateTest never travels (see pack_data.py). Study rows train a fixed
number of epochs and report the last epoch on the validation split (no selection).
``--smoke`` runs every job for seconds on a few hundred samples on the CPU, to check the script.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

KOREAN_WORDS = ("기쁨", "당황", "분노", "불안", "상처", "슬픔")
KOREAN_TO_FER7 = {0: 3, 2: 0, 5: 4}          # 기쁨 happy, 분노 angry, 슬픔 sad
FER7 = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
FERPLUS8 = ("neutral", "happy", "surprise", "sad", "angry", "disgust", "fear", "contempt")
WORLD = "/tmp/ferkit-gpu/world.npz"
TEACHER_DIR = "/tmp/ferkit-gpu/teachers"

TEACHERS = [
    dict(name="t1-resnet18s-blend", arch="resnet18s", image=48, crop=44, blend=0.5, seed=1),
    dict(name="t2-resnet34s-blend", arch="resnet34s", image=48, crop=44, blend=0.5, seed=2),
    dict(name="t3-fercnn_l64-blend", arch="fercnn_l", image=64, crop=56, blend=0.5, seed=3),
    dict(name="t4-resnet18s-fer2013", arch="resnet18s", image=48, crop=44, blend=1.0, seed=4),
    dict(name="t5-fercnn_l-blend", arch="fercnn_l", image=48, crop=40, blend=0.5, seed=5),
]
STUDENT = dict(name="fer7-student", arch="fercnn_l", image=48, crop=40, blend=0.5, seed=10,
               kd_weight=0.7, kd_temperature=2.0)
BASE = dict(arch="fercnn_l", image=48, crop=40, channels=1, opt="sgd", lr=0.1, drop=0.4,
            aug="default", balance="none", preprocess="none", init="default", head="linear",
            epochs=8)
FER_GRID = [  # one factor at a time against BASE
    dict(row="fercnn_l (baseline)"),
    dict(row="fercnn_s", arch="fercnn_s"), dict(row="fercnn_m", arch="fercnn_m"),
    dict(row="resnet18s", arch="resnet18s", crop=44),
    dict(row="resnet18 (timm, ImageNet stem)", arch="resnet18"),
    dict(row="resnet50 (timm)", arch="resnet50"),
    dict(row="mobilenetv2_100", arch="mobilenetv2_100"),
    dict(row="mobilenetv3_large_100", arch="mobilenetv3_large_100"),
    dict(row="mobilenetv3_small_100", arch="mobilenetv3_small_100"),
    dict(row="efficientnet_b0", arch="efficientnet_b0"),
    dict(row="RGB input (gray copied to 3 channels)", channels=3),
    dict(row="input 96 (48 upsampled)", image=96, crop=80),
    dict(row="Adam lr 1e-3", opt="adam", lr=1e-3), dict(row="RMSprop lr 1e-3", opt="rmsprop", lr=1e-3),
    dict(row="dropout 0.2", drop=0.2), dict(row="dropout 0.5", drop=0.5),
    dict(row="augment none", aug="none"), dict(row="augment light", aug="light"),
    dict(row="augment robust", aug="robust"),
    dict(row="balance sampler", balance="sampler"), dict(row="balance loss", balance="loss"),
    dict(row="preprocess histeq", preprocess="histeq"), dict(row="preprocess clahe", preprocess="clahe"),
    dict(row="preprocess lbp", preprocess="lbp"), dict(row="preprocess hog", preprocess="hog"),
    dict(row="inception_resnet_v2 (timm, 96 px)", arch="inception_resnet_v2", image=96, crop=88),
]
KOREAN_BASE = dict(arch="fercnn_l", image=48, crop=40, channels=1, opt="sgd", lr=0.1, drop=0.4,
                   aug="default", balance="none", preprocess="none", init="default", head="linear",
                   epochs=12, per_class=0)
KOREAN_GRID = [
    dict(row="fercnn_l, all images"), dict(row="fercnn_l, 1000 per class", per_class=1000),
    dict(row="fercnn_l, 500 per class", per_class=500), dict(row="fercnn_l, 250 per class", per_class=250),
    dict(row="resnet50 96 gray", arch="resnet50", image=96, crop=88, epochs=8),
    dict(row="resnet50 96 gray + korean-resnet50 aug", arch="resnet50", image=96, crop=88, epochs=8,
         aug="korean-resnet50"),
    dict(row="resnet50 96 gray + he_normal", arch="resnet50", image=96, crop=88, epochs=8, init="he_normal"),
    dict(row="resnet50 96 gray + Dense-512 head", arch="resnet50", image=96, crop=88, epochs=8,
         head="dense512"),
    dict(row="fercnn_l 96 gray", image=96, crop=88, epochs=8),
    dict(row="resnet152 96 gray", arch="resnet152", image=96, crop=88, epochs=8),
    dict(row="resnet50 224 gray", arch="resnet50", image=224, crop=208, epochs=6),
    dict(row="resnet152 224 gray", arch="resnet152", image=224, crop=208, epochs=6),
]


# --- data ---------------------------------------------------------------------------------------

def decode_pack(path: Path) -> dict:
    import cv2

    z = np.load(path)
    blob, ends = z["webp"], z["ends"]
    starts = np.concatenate([[0], ends[:-1]])

    def one(i):
        return cv2.imdecode(blob[starts[i]:ends[i]], cv2.IMREAD_GRAYSCALE)

    with ThreadPoolExecutor(8) as pool:
        images = np.stack(list(pool.map(one, range(len(ends)))))
    return {"images": images, **{k: z[k] for k in z.files if k not in ("webp", "ends")}}


def build_world(pack: Path, smoke: bool) -> None:
    """Decode every pack once, split by person/subject, save one uncompressed .npz for the jobs."""
    from ferkit.train.datasets.fer2013 import blend_targets, ferplus_majority
    from ferkit.train.splits import group_assignment

    fer = decode_pack(pack / "fer2013.npz")
    ko = decode_pack(pack / "korean.npz")
    po = decode_pack(pack / "bu3dfe_bosphorus_posed.npz")
    ct = (decode_pack(pack / "web_contempt.npz") if (pack / "web_contempt.npz").is_file()
          else {"images": np.zeros((0, 48, 48), np.uint8)})
    if smoke:
        rng = np.random.default_rng(0)
        pick = np.sort(np.concatenate([rng.choice(np.flatnonzero(fer["usage"] == u), 80, replace=False)
                                       for u in ("Training", "PublicTest")]))
        fer = {k: v[pick] for k, v in fer.items()}
        ko = {k: v[:400] for k, v in ko.items()}
        po = {k: v[::6] for k, v in po.items()}
        ct = {k: v[:60] for k, v in ct.items()}
    w = {}
    w["fer_x"], w["fer_y"], w["fer_votes"] = fer["images"], fer["labels"].astype(np.int64), fer["votes"]
    w["fer_train"] = fer["usage"] == "Training"
    w["fer_val"] = fer["usage"] == "PublicTest"
    for b in (1.0, 0.5, 0.7):
        w[f"fer_blend{b}"] = blend_targets(w["fer_y"], fer["votes"], b)
    maj = ferplus_majority(fer["votes"])
    w["ferplus_major"] = maj                                      # FER+ column index, -1 none
    emo = fer["votes"][:, :8].astype(np.float32)
    w["ferplus_soft"] = emo / np.maximum(emo.sum(1, keepdims=True), 1)
    w["ferplus_ok"] = (emo.sum(1) > 0) & (fer["votes"].argmax(1) < 8)
    w["ko_x"], w["ko_y"] = ko["images"], ko["emotion"].astype(np.int64)
    # a trimmed pack carries the roles the full pack gave (see run_continue)
    w["ko_role"] = (ko["role"] if "role" in ko else
                    group_assignment(ko["person"], 0.15, 0.15, seed=0)).astype("U5")
    w["po_x"], w["po_y"] = po["images"], po["labels"].astype(np.int64)
    w["po_role"] = group_assignment(po["subject"], 0.2, 0.0, seed=0).astype("U5")
    # BU-3DFE textures sit on black: mark that background so training can replace it.
    bu = np.array([f.split("/")[-1][:1] in ("F", "M") for f in po["files"]])
    w["po_mask"] = (po["images"] < 12) & bu[:, None, None]
    w["ct_x"] = ct["images"]
    w["ct_role"] = group_assignment(np.arange(len(ct["images"])), 0.1, 0.1, seed=0).astype("U5")
    Path(WORLD).parent.mkdir(parents=True, exist_ok=True)
    np.savez(WORLD, **w)
    roles = ", ".join(f"{r} {(w['ko_role'] == r).sum()}" for r in ("train", "val", "test"))
    print(f"world: fer {len(w['fer_x'])}, korean {len(w['ko_x'])} ({roles}), "
          f"posed {len(w['po_x'])}, contempt {len(w['ct_x'])}", flush=True)


# --- one training run ----------------------------------------------------------------------------

class Run:
    """One model trained on GPU-resident uint8 images with ferkit's augmentation."""

    def __init__(self, spec: dict, x, y, evals: dict, device, num_classes: int, sample_weights=None,
                 bg_mask=None, bg_pool=None, teachers=None):
        import torch

        from ferkit.train.augment import get_augment
        from ferkit.train.models import create_model

        self.spec, self.device = spec, device
        self.x, self.y = x, y                      # uint8 (N,1,48,48) on device; float targets (N,C)
        self.evals = evals                         # name -> (x uint8, y int64 on device)
        self.aug = get_augment(spec.get("aug", "robust"))
        self.gen = torch.Generator().manual_seed(spec.get("seed", 0))
        torch.manual_seed(spec.get("seed", 0))
        self.model = create_model(spec["arch"], num_classes, spec.get("channels", 1), spec.get("drop", 0.4),
                                  weight_init=spec.get("init", "default"), head=spec.get("head", "linear"))
        self.model = self.model.to(device).to(memory_format=torch.channels_last)
        self.sample_weights = sample_weights
        self.class_weights = None
        self.bg_mask, self.bg_pool = bg_mask, bg_pool
        self.teachers = teachers
        self.num_classes = num_classes
        opt, lr = spec.get("opt", "sgd"), spec.get("lr", 0.1)
        decay = [p for p in self.model.parameters() if p.ndim > 1]
        no_decay = [p for p in self.model.parameters() if p.ndim <= 1]
        groups = [{"params": decay, "weight_decay": spec.get("wd", 5e-4)},
                  {"params": no_decay, "weight_decay": 0.0}]
        if opt == "sgd":
            self.opt = torch.optim.SGD(groups, lr=lr, momentum=0.9, nesterov=True)
        elif opt == "adam":
            self.opt = torch.optim.Adam(groups, lr=lr)
        elif opt == "rmsprop":
            self.opt = torch.optim.RMSprop(groups, lr=lr, momentum=0.9, alpha=0.9, eps=1e-3)
        else:
            raise ValueError(opt)
        self.base_lr = lr
        self.batch = spec.get("batch", 256)

    def images(self, x_uint8, train: bool):
        import torch.nn.functional as F

        from ferkit.train.augment import augment_batch

        x = x_uint8.float() / 255
        if x.shape[-1] != self.spec["image"]:
            x = F.interpolate(x, size=self.spec["image"], mode="bilinear", align_corners=False)
        x = augment_batch(x, self.aug, self.spec["crop"], train=train,
                          generator=self.gen if train else None)
        if self.spec.get("channels", 1) == 3:
            x = x.expand(-1, 3, -1, -1)
        return x

    def forward(self, x01):
        import torch
        x = ((x01 - 0.5) / 0.25).contiguous(memory_format=torch.channels_last)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=x.is_cuda):
            return self.model(x).float()

    def epoch(self, ep: int, planned: int) -> float:
        import torch
        import torch.nn.functional as F

        from ferkit.train.distill import distillation_loss

        self.model.train()
        n = len(self.x)
        steps = max(n // self.batch, 1)
        if self.sample_weights is not None:
            order = torch.multinomial(self.sample_weights, n, replacement=True, generator=self.gen)
        else:
            order = torch.randperm(n, generator=self.gen)
        order = order.to(self.device)
        total = 0.0
        for s in range(steps):
            t = ep + s / steps
            lr = self.base_lr * (max(t, 0.05) if t < 1 else
                                 0.5 * (1 + math.cos(math.pi * min((t - 1) / max(planned - 1, 1), 1))))
            for g in self.opt.param_groups:
                g["lr"] = lr
            idx = order[s * self.batch:(s + 1) * self.batch]
            xb = self.x[idx]
            if self.bg_mask is not None:
                m = self.bg_mask[idx]
                if bool(m.any()):
                    donors = self.bg_pool[torch.randint(len(self.bg_pool), (len(idx),),
                                                        generator=self.gen).to(self.device)]
                    xb = torch.where(m, donors, xb)
            x01 = self.images(xb, True)
            y = self.y[idx]
            logits = self.forward(x01)
            if self.teachers is not None:
                with torch.autocast("cuda", dtype=torch.bfloat16, enabled=x01.is_cuda):
                    tp = self.teachers.probabilities(x01, self.spec["kd_temperature"])
                loss = distillation_loss(logits, tp.float(), y, self.spec["kd_temperature"],
                                         self.spec["kd_weight"])
            else:
                per = -(y * F.log_softmax(logits, 1))
                if self.class_weights is not None:
                    per = per * self.class_weights
                loss = per.sum(1).mean()
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
            total += float(loss.detach()) if s % 20 == 0 else 0.0
        return total

    def predict(self, x_uint8, batch: int = 1024):
        """Logits with flip TTA (mean of the centre crop and its mirror)."""
        import torch

        self.model.eval()
        out = []
        with torch.no_grad():
            for i in range(0, len(x_uint8), batch):
                x01 = self.images(x_uint8[i:i + batch], False)
                out.append((self.forward(x01) + self.forward(x01.flip(-1))) / 2)
        return torch.cat(out) if out else torch.zeros(0, self.num_classes, device=self.device)

    def evaluate(self) -> dict:
        res = {}
        for name, (x, y, mapping) in self.evals.items():
            logits = self.predict(x)
            pred = logits.argmax(1)
            if mapping is not None:                # score only the mapped classes
                sub = logits[:, mapping]
                pred = torch_index(mapping, sub.argmax(1))
            res[name] = metrics(pred.cpu().numpy(), y.cpu().numpy(), self.num_classes)
        return res


def accuracies(ev: dict) -> str:
    return ", ".join(f"{k} {v['accuracy']:.4f}" for k, v in ev.items())


def torch_index(mapping, idx):
    import torch
    return torch.as_tensor(mapping, device=idx.device)[idx]


def metrics(pred: np.ndarray, y: np.ndarray, num_classes: int) -> dict:
    present = [c for c in range(num_classes) if (y == c).any()]
    recall = {int(c): float((pred[y == c] == c).mean()) for c in present}
    f1 = []
    for c in present:
        tp = float(((pred == c) & (y == c)).sum())
        p = tp / max(float((pred == c).sum()), 1)
        r = recall[c]
        f1.append(0 if p + r == 0 else 2 * p * r / (p + r))
    conf = np.zeros((num_classes, num_classes), int)
    np.add.at(conf, (y, pred), 1)
    return {"accuracy": float((pred == y).mean()) if len(y) else float("nan"),
            "macro_f1": float(np.mean(f1)) if f1 else float("nan"), "recall": recall,
            "samples": int(len(y)), "confusion": conf.tolist()}


def train_for(run: Run, budget_s: float, max_epochs: int, min_epochs: int, select, log) -> dict:
    """Train within ``budget_s`` (epochs planned from the first epoch's time), keeping the state
    with the best ``select(evaluation)``; returns the history and the best evaluation."""
    import torch

    t0 = time.time()
    planned, history, best = max_epochs, [], None
    ep = 0
    while ep < planned:
        te = time.time()
        run.epoch(ep, planned)
        ev = run.evaluate()
        score = select(ev)
        history.append({"epoch": ep + 1, "score": score, "seconds": round(time.time() - te, 2),
                        **{k: round(v["accuracy"], 4) for k, v in ev.items()}})
        if best is None or score > best["score"]:
            best = {"score": score, "epoch": ep + 1, "eval": ev,
                    "state": {k: v.detach().clone() for k, v in run.model.state_dict().items()}}
        log(f"{run.spec['name']} epoch {ep + 1}/{planned} score {score:.4f} "
            f"({accuracies(ev)}) {time.time() - te:.1f}s")
        ep += 1
        per_epoch = (time.time() - t0) / ep
        fits = int((budget_s - (time.time() - t0)) / per_epoch) + ep
        if fits < planned:
            planned = max(min(fits, planned), min(min_epochs, planned), ep)
        if time.time() - t0 > budget_s:
            break
    run.model.load_state_dict(best["state"])
    torch.cuda.synchronize() if torch.cuda.is_available() else None
    return {"history": history, "best_epoch": best["epoch"], "best_score": best["score"],
            "eval": best["eval"], "epochs_run": ep, "wall_s": round(time.time() - t0, 1)}


# --- jobs ------------------------------------------------------------------------------------------

def job_env():
    import torch

    torch.set_num_threads(2)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    w = dict(np.load(WORLD))
    return torch, device, w


def to_dev(torch, a, device):
    t = torch.from_numpy(np.ascontiguousarray(a))
    if t.dtype == torch.uint8 and t.ndim == 3:
        t = t[:, None]
    return t.to(device)


def fer7_training_set(torch, w, device, blend: float):
    """FER2013 Training (blended targets) + Korean train people's happy/angry/sad + posed train
    subjects, with the posed set's black background marked for replacement."""
    ko_keep = (w["ko_role"] == "train") & np.isin(w["ko_y"], list(KOREAN_TO_FER7))
    ko_y = np.array([KOREAN_TO_FER7[int(k)] for k in w["ko_y"][ko_keep]], np.int64)
    po_keep = (w["po_role"] == "train") & (w["po_y"] >= 0)
    x = np.concatenate([w["fer_x"][w["fer_train"]], w["ko_x"][ko_keep], w["po_x"][po_keep]])
    eye = np.eye(7, dtype=np.float32)
    y = np.concatenate([w[f"fer_blend{blend}"][w["fer_train"]], eye[ko_y], eye[w["po_y"][po_keep]]])
    mask = np.zeros(x.shape, bool)
    mask[len(x) - po_keep.sum():] = w["po_mask"][po_keep]
    return to_dev(torch, x, device), to_dev(torch, y, device), to_dev(torch, mask, device)[:, None]


def fer7_evals(torch, w, device) -> dict:
    val = w["fer_val"]
    maj = w["ferplus_major"][val]
    col_to_fer7 = {4: 0, 5: 1, 6: 2, 1: 3, 3: 4, 2: 5, 0: 6}    # FER+ column -> FER-7 index
    ok = np.isin(maj, list(col_to_fer7))
    fp_y = np.array([col_to_fer7[int(m)] for m in maj[ok]], np.int64)
    ko = (w["ko_role"] == "val") & np.isin(w["ko_y"], list(KOREAN_TO_FER7))
    ko_y = np.array([KOREAN_TO_FER7[int(k)] for k in w["ko_y"][ko]], np.int64)
    po = (w["po_role"] == "val") & (w["po_y"] >= 0)
    return {
        "PublicTest": (to_dev(torch, w["fer_x"][val], device), to_dev(torch, w["fer_y"][val], device), None),
        "PublicTest FER+ majority": (to_dev(torch, w["fer_x"][val][ok], device), to_dev(torch, fp_y, device), None),
        "korean val (happy/angry/sad)": (to_dev(torch, w["ko_x"][ko], device), to_dev(torch, ko_y, device),
                                         [0, 3, 4]),
        "posed val": (to_dev(torch, w["po_x"][po], device), to_dev(torch, w["po_y"][po], device), None),
    }


def mean_score(ev: dict) -> float:
    return float(np.mean([v["accuracy"] for v in ev.values()]))


def save_state(run: Run, path: Path, meta: dict, parts: int = 1) -> None:
    import torch

    state = {k: (v.half() if v.is_floating_point() else v).cpu() for k, v in run.model.state_dict().items()}
    groups, sizes = [[] for _ in range(parts)], [0] * parts
    for k in sorted(state, key=lambda k: -state[k].numel() * state[k].element_size()):
        i = sizes.index(min(sizes))             # each file under the tool's 16 MiB
        groups[i].append(k)
        sizes[i] += state[k].numel() * state[k].element_size()
    for i in range(parts):
        chunk = {k: state[k] for k in groups[i]}
        target = path if parts == 1 else path.with_suffix(f".{'ab'[i]}.pt")
        tmp = target.with_suffix(".tmp")
        torch.save({"state": chunk, "meta": meta, "part": i, "parts": parts}, tmp)
        os.replace(tmp, target)


def record(out: Path, entry: dict) -> None:
    with open(out / "results.jsonl", "a") as f:
        f.write(json.dumps(entry) + "\n")


def run_teacher(name: str, out: Path, budget: float, smoke: bool, log) -> None:
    torch, device, w = job_env()
    spec = dict(next(t for t in TEACHERS if t["name"] == name), aug="robust", lr=0.1, drop=0.4)
    x, y, mask = fer7_training_set(torch, w, device, spec["blend"])
    run = Run(spec, x, y, fer7_evals(torch, w, device), device, 7, bg_mask=mask,
              bg_pool=to_dev(torch, w["fer_x"][w["fer_train"]], device))
    res = train_for(run, budget, 2 if smoke else 80, 1 if smoke else 20, mean_score, log)
    Path(TEACHER_DIR).mkdir(parents=True, exist_ok=True)
    torch.save({"spec": spec, "state": run.model.state_dict()}, f"{TEACHER_DIR}/{name}.pt")
    record(out, {"job": "teacher", "name": name, "spec": spec, **res})


def load_teachers(torch, device, log):
    from ferkit.train.distill import TeacherEnsemble, TeacherInput
    from ferkit.train.models import create_model

    models, inputs, names = [], [], []
    for t in TEACHERS:
        p = Path(TEACHER_DIR) / f"{t['name']}.pt"
        if not p.is_file():
            log(f"teacher {t['name']} missing: distilling from the others")
            continue
        ck = torch.load(p, map_location=device)
        m = create_model(t["arch"], 7, 1, 0.0).to(device).to(memory_format=torch.channels_last)
        m.load_state_dict(ck["state"])
        models.append(m)
        inputs.append(TeacherInput(size=t["crop"], channels=1))
        names.append(t["name"])
    return (TeacherEnsemble(models, inputs) if models else None), names


def run_student(out: Path, budget: float, smoke: bool, log) -> None:
    torch, device, w = job_env()
    teachers, names = load_teachers(torch, device, log)
    spec = dict(STUDENT, aug="robust", drop=0.4, lr=0.1)
    x, y, mask = fer7_training_set(torch, w, device, spec["blend"])
    evals = fer7_evals(torch, w, device)
    if teachers is not None:
        # The teachers' ensemble on every training row and validation set (CPU fallback, report).
        probe = Run(dict(spec, name="probe"), x, y, evals, device, 7)
        probs = {}
        with torch.no_grad():
            for key, data in [("train", x)] + [(k, v[0]) for k, v in evals.items()]:
                chunks = []
                for i in range(0, len(data), 1024):
                    x01 = probe.images(data[i:i + 1024], False)
                    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=x01.is_cuda):
                        p = (teachers.probabilities(x01) + teachers.probabilities(x01.flip(-1))) / 2
                    chunks.append(p.float().cpu())
                probs[key] = torch.cat(chunks).numpy()
        ens = {k: metrics(probs[k].argmax(1) if v[2] is None else np.array(v[2])[probs[k][:, v[2]].argmax(1)],
                          v[1].cpu().numpy(), 7) for k, v in evals.items()}
        np.savez(out / "teachers.tmp.npz", names=np.array(names),
                 **{f"probs_{k}": v.astype(np.float16) for k, v in probs.items()})
        os.replace(out / "teachers.tmp.npz", out / "teachers.npz")
        record(out, {"job": "teacher-ensemble", "teachers": names, "eval": ens,
                     "score": mean_score(ens)})
        log(f"teacher ensemble ({len(names)}): score {mean_score(ens):.4f} "
            f"({accuracies(ens)})")
    run = Run(spec, x, y, evals, device, 7, bg_mask=mask,
              bg_pool=to_dev(torch, w["fer_x"][w["fer_train"]], device), teachers=teachers)
    res = train_for(run, budget - 10, 2 if smoke else 150, 1 if smoke else 30, mean_score, log)
    meta = {"spec": spec, "teachers": names, "labels": FER7, **res}
    save_state(run, out / "fer7_student.pt", meta)
    record(out, {"job": "student", "name": spec["name"], "spec": spec, "teachers": names, **res})


def run_ferplus8(out: Path, budget: float, smoke: bool, log) -> None:
    torch, device, w = job_env()
    tr, val = w["fer_train"] & w["ferplus_ok"], w["fer_val"]
    ct_train = w["ct_role"] == "train"
    eye = np.eye(8, dtype=np.float32)
    x = np.concatenate([w["fer_x"][tr], w["ct_x"][ct_train]])
    y = np.concatenate([w["ferplus_soft"][tr], np.repeat(eye[7:8], ct_train.sum(), 0)])
    maj = w["ferplus_major"][val]
    ok = (maj >= 0) & (maj < 8)
    ct_val = w["ct_role"] == "val"
    evals = {"PublicTest FER+ majority (8)": (to_dev(torch, w["fer_x"][val][ok], device),
                                               to_dev(torch, maj[ok].astype(np.int64), device), None),
             "contempt val": (to_dev(torch, w["ct_x"][ct_val], device),
                              to_dev(torch, np.full(ct_val.sum(), 7, np.int64), device), None)}
    spec = dict(name="ferplus8", arch="resnet18s", image=48, crop=44, seed=20, aug="robust", drop=0.4, lr=0.1)
    run = Run(spec, to_dev(torch, x, device), to_dev(torch, y, device), evals, device, 8)
    res = train_for(run, budget - 10, 2 if smoke else 80, 1 if smoke else 20,
                    lambda ev: ev["PublicTest FER+ majority (8)"]["accuracy"], log)
    save_state(run, out / "ferplus8.pt", {"spec": spec, "labels": FERPLUS8, **res}, parts=2)
    record(out, {"job": "ferplus8", "spec": spec, **res})


def run_continue(out: Path, budget: float, smoke: bool, log, start: Path, soft: Path,
                 epochs: tuple[int, int] = (20, 150)) -> None:
    """Second pass, one process alone on the GPU: continue the student from ``start`` with a new
    cosine cycle on targets mixing the blended labels with the (saved) teacher ensemble's
    predictions, keeping whichever state, old or new, scores best on validation."""
    torch, device, w = job_env()
    ck = torch.load(start, map_location=device, weights_only=True)
    meta = ck["meta"]
    spec = dict(meta["spec"], aug="robust", drop=0.4, lr=0.03, seed=11)
    x, y, mask = fer7_training_set(torch, w, device, spec["blend"])
    probs = torch.from_numpy(np.load(soft)["probs_train"].astype(np.float32)).to(device)
    if len(probs) != len(y):
        raise SystemExit(f"teacher predictions for {len(probs)} rows, training set has {len(y)}")
    y = 0.3 * y + 0.7 * probs
    run = Run(spec, x, y, fer7_evals(torch, w, device), device, 7, bg_mask=mask,
              bg_pool=to_dev(torch, w["fer_x"][w["fer_train"]], device))
    run.model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in ck["state"].items()})
    before = run.evaluate()
    log(f"continue from {start.name}: score {mean_score(before):.4f} ({accuracies(before)})")
    res = train_for(run, budget - 10, 2 if smoke else epochs[1], 1 if smoke else epochs[0], mean_score, log)
    improved = res["best_score"] > mean_score(before)
    if improved:
        meta = {**meta, "continued": {"spec": spec, "targets": "0.3 blend + 0.7 teacher ensemble",
                                      "before": before, **res}}
        save_state(run, out / "fer7_student.pt", meta)
    record(out, {"job": "continue", "spec": spec, "improved": improved, "before": before, **res})


def korean_sets(torch, w, device, per_class: int = 0, seed: int = 0):
    tr = np.flatnonzero(w["ko_role"] == "train")
    if per_class:
        rng = np.random.default_rng(seed)
        tr = np.concatenate([rng.choice(tr[w["ko_y"][tr] == c], min(per_class, (w["ko_y"][tr] == c).sum()),
                                        replace=False) for c in range(6)])
    eye = np.eye(6, dtype=np.float32)
    evals = {}
    for role in ("val", "test"):
        idx = np.flatnonzero(w["ko_role"] == role)
        # a balanced set: as many images of each class as the rarest class has
        n = min((w["ko_y"][idx] == c).sum() for c in range(6))
        rng = np.random.default_rng(1)
        idx = np.concatenate([rng.choice(idx[w["ko_y"][idx] == c], n, replace=False) for c in range(6)])
        evals[f"korean {role} (balanced)"] = (to_dev(torch, w["ko_x"][idx], device),
                                              to_dev(torch, w["ko_y"][idx], device), None)
    return to_dev(torch, w["ko_x"][tr], device), to_dev(torch, eye[w["ko_y"][tr]], device), evals


def run_korean6(out: Path, budget: float, smoke: bool, log) -> None:
    torch, device, w = job_env()
    x, y, evals = korean_sets(torch, w, device)
    spec = dict(name="korean6", arch="fercnn_l", image=48, crop=40, seed=30, aug="robust", drop=0.4, lr=0.1)
    run = Run(spec, x, y, evals, device, 6)
    res = train_for(run, budget - 10, 2 if smoke else 100, 1 if smoke else 20,
                    lambda ev: ev["korean val (balanced)"]["accuracy"], log)
    save_state(run, out / "korean6.pt", {"spec": spec, "labels": KOREAN_WORDS, **res})
    record(out, {"job": "korean6", "spec": spec, **res})


def preprocessed(images: np.ndarray, mode: str) -> np.ndarray:
    if mode == "none":
        return images
    from multiprocessing import Pool

    from ferkit.preprocess import apply_preprocess

    with Pool(4) as pool:
        return np.stack(pool.starmap(apply_preprocess, [(im, mode) for im in images], chunksize=256))


def run_grid(which: str, out: Path, deadline: float, smoke: bool, log) -> None:
    """Study rows, one after another, each a fixed number of epochs; the last epoch is reported."""
    torch, device, w = job_env()
    rows = FER_GRID if which == "fer" else KOREAN_GRID
    base = BASE if which == "fer" else KOREAN_BASE
    for i, row in enumerate(rows):
        spec = {**base, **row, "name": f"{which}-{i:02d}", "seed": 100 + i}
        if smoke:   # every code path, at sizes a CPU runs in seconds
            spec.update(epochs=1, image=min(spec["image"], 96), crop=min(spec["crop"], 88))
        if time.time() > deadline - 15:
            record(out, {"job": f"study-{which}", "row": spec["row"], "spec": spec, "status": "not run (GPU time)"})
            continue
        t0 = time.time()
        try:
            if which == "fer":
                tr = w["fer_train"]
                xs = preprocessed(w["fer_x"], spec["preprocess"])
                y = np.eye(7, dtype=np.float32)[w["fer_y"][tr]]
                x, yt = to_dev(torch, xs[tr], device), to_dev(torch, y, device)
                evals = {"PublicTest": (to_dev(torch, xs[w["fer_val"]], device),
                                        to_dev(torch, w["fer_y"][w["fer_val"]], device), None)}
                classes, labels = 7, w["fer_y"][tr]
            else:
                x, yt, evals = korean_sets(torch, w, device, spec["per_class"], seed=spec["seed"])
                classes, labels = 6, yt.argmax(1).cpu().numpy()
            counts = np.bincount(labels, minlength=classes).astype(np.float64)
            sw = torch.from_numpy(1.0 / np.maximum(counts, 1))[torch.from_numpy(labels)] \
                if spec["balance"] == "sampler" else None
            run = Run(spec, x, yt, evals, device, classes, sample_weights=sw)
            if spec["balance"] == "loss":
                run.class_weights = torch.tensor(counts.sum() / np.maximum(counts, 1) / classes,
                                                 dtype=torch.float32, device=device)
            hist = []
            for ep in range(spec["epochs"]):
                if time.time() > deadline - 5:
                    break
                te = time.time()
                run.epoch(ep, spec["epochs"])
                hist.append(round(time.time() - te, 2))
            ev = run.evaluate()
            params = sum(p.numel() for p in run.model.parameters())
            status = "complete" if len(hist) == spec["epochs"] else f"cut at {len(hist)} epochs (GPU time)"
            record(out, {"job": f"study-{which}", "row": spec["row"], "spec": spec, "eval": ev,
                         "parameters": params, "epochs_run": len(hist), "epoch_seconds": hist,
                         "wall_s": round(time.time() - t0, 1), "status": status})
            log(f"{which} row {spec['row']}: {accuracies(ev)} "
                f"({len(hist)} epochs, {time.time() - t0:.0f}s)")
            del run, x, yt, evals
            torch.cuda.empty_cache() if torch.cuda.is_available() else None
        except Exception as e:  # one row failing must not cost the rest of the grid
            record(out, {"job": f"study-{which}", "row": spec["row"], "spec": spec,
                         "status": f"failed: {type(e).__name__}: {e}"})
            log(f"{which} row {spec['row']} failed: {e!r}")


# --- orchestration ---------------------------------------------------------------------------------

def child(args) -> None:
    out = Path(args.out)

    def log(msg):
        print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)

    budget = args.deadline - time.time()
    log(f"start {args.job} {args.name or ''} budget {budget:.0f}s")
    if args.job == "teacher":
        run_teacher(args.name, out, budget, args.smoke, log)
    elif args.job == "student":
        run_student(out, budget, args.smoke, log)
    elif args.job == "ferplus8":
        run_ferplus8(out, budget, args.smoke, log)
    elif args.job == "korean6":
        run_korean6(out, budget, args.smoke, log)
    elif args.job == "continue":
        run_continue(out, budget, args.smoke, log, Path(args.start), Path(args.soft),
                     (args.min_epochs, args.max_epochs))
    elif args.job in ("grid-fer", "grid-korean"):
        run_grid(args.job.split("-")[1], out, args.deadline, args.smoke, log)
    log(f"done {args.job} {args.name or ''}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pack", default=".gpu/pack")
    ap.add_argument("--out", default=os.environ.get("OUT", "gpu-out"))
    ap.add_argument("--deadline", type=float, default=500, help="seconds from start for everything")
    ap.add_argument("--teacher-share", type=float, default=0.55, help="part of the time for teachers")
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--job")
    ap.add_argument("--name")
    ap.add_argument("--start", help="continue: the student state to start from")
    ap.add_argument("--soft", help="continue: teachers.npz with the ensemble's training predictions")
    ap.add_argument("--min-epochs", type=int, default=20, help="continue: at least this many epochs")
    ap.add_argument("--max-epochs", type=int, default=150, help="continue: at most this many epochs")
    args = ap.parse_args()
    if args.job:
        if args.job == "continue":
            build_world(Path(args.pack), args.smoke)
            args.deadline = time.time() + args.deadline
        return child(args)
    t0 = time.time()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    logf = open(out / "log.txt", "a", buffering=1)

    def say(msg):
        line = f"[{time.strftime('%H:%M:%S')}] {msg}"
        print(line, flush=True)
        logf.write(line + "\n")

    build_world(Path(args.pack), args.smoke)
    say(f"world built in {time.time() - t0:.0f}s")
    end = t0 + args.deadline
    teachers_end = time.time() + (end - time.time()) * args.teacher_share
    env = dict(os.environ, PYTHONUNBUFFERED="1")

    def spawn(job, deadline, name=None):
        cmd = [sys.executable, __file__, "--job", job, "--out", str(out), "--deadline", str(deadline)]
        cmd += ["--name", name] if name else []
        cmd += ["--smoke"] if args.smoke else []
        return subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, env=env)

    others = [spawn("ferplus8", end), spawn("korean6", end), spawn("grid-fer", end), spawn("grid-korean", end)]
    teachers = [spawn("teacher", teachers_end, t["name"]) for t in TEACHERS]
    for p in teachers:
        p.wait()
    say(f"teachers done at {time.time() - t0:.0f}s")
    student = spawn("student", end)
    for p in [student] + others:
        p.wait()
    say(f"all done at {time.time() - t0:.0f}s; exit codes student {student.returncode}, "
        f"others {[p.returncode for p in others]}, teachers {[p.returncode for p in teachers]}")
    for line in open(out / "results.jsonl") if (out / "results.jsonl").exists() else []:
        e = json.loads(line)
        ev = e.get("eval") or {}
        say(f"{e.get('job')} {e.get('name') or e.get('row') or ''}: {e.get('status', '')} "
            + accuracies(ev))


if __name__ == "__main__":
    main()

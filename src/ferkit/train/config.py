"""Training run configuration (a dataclass, read from / written to JSON or YAML)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

from ferkit.errors import ConfigError


def check_options(cls, options: dict, what: str) -> None:
    """Refuse keys of ``options`` that are not fields of the dataclass ``cls``."""
    known = {f.name for f in fields(cls)}
    unknown = set(options) - known
    if unknown:
        raise ConfigError(f"unknown {what} option(s): {', '.join(sorted(unknown))}; "
                          f"known: {', '.join(sorted(known))}")


@dataclass
class DataConfig:
    """Where the training data comes from.

    ``kind``: ``fer2013`` (``path``), ``ferplus`` (``path`` + ``votes``, ``label_mode``
    ``majority`` or ``soft``), ``folder`` (``path`` = ``root/<label>/<image>``; a folder
    holding a ``manifest.csv`` is read as ``manifest``), ``filenames`` (``path`` +
    ``pattern``) or ``manifest`` (``path`` = a ``ferkit data`` dataset folder: its
    kept rows, ``copies`` times, split by its ``split`` column). Data that does not carry the named
    ``train_split`` and ``val_split`` is split by class into ``val_fraction`` /
    ``test_fraction`` / the rest, seeded by ``split_seed`` (see
    :mod:`ferkit.train.splits`): every ensemble member, ``evaluate`` and
    ``export`` get the same split, whatever their own seeds.
    ``group_by`` names a group of the file-name ``pattern`` (e.g. ``person``): the
    seeded split then keeps every group whole (no person in two splits), and
    ``group_merge`` maps group names onto the one they stand for (one person
    under two ids: ``{"aba079f0...": "501e5c7d..."}``).
    ``preprocess`` holds :class:`~ferkit.train.datasets.PreprocessOptions` for image
    files (``detector``, ``template``, ``margin``, ``mode``, ``no_face``, ``size``,
    ``channels``); FER2013 rows take only ``mode``. ``mode`` is the pixel transform
    the model trains on and its card records for inference: ``none``, ``histeq``,
    ``clahe``, ``lbp`` or ``hog`` (:data:`ferkit.card.PREPROCESS_MODES`; the last
    three need grayscale); ``clahe: true`` is the older spelling of ``mode: clahe``.
    """

    kind: str = "fer2013"
    path: str = "../shared/data/fer2013/fer2013.csv.gz"
    votes: str | None = None
    label_mode: str = "hard"      # hard | blend (fer2013 + votes) | majority | soft (ferplus)
    blend: float = 0.5            # label_mode blend: weight of the FER2013 label vs the crowd
    pattern: str | None = None
    label_set: str | None = None
    train_split: str = "Training"
    val_split: str = "PublicTest"
    test_split: str = "PrivateTest"
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    split_seed: int = 0
    group_by: str | None = None
    group_merge: dict = field(default_factory=dict)
    preprocess: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("val_fraction", "test_fraction"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not 0 <= value < 1:
                raise ConfigError(f"data.{name} must be a number in [0, 1), not {value!r}")
        if self.val_fraction + self.test_fraction >= 1:
            raise ConfigError(f"data.val_fraction + data.test_fraction must leave training "
                              f"samples (< 1), got {self.val_fraction} + {self.test_fraction}")
        if not isinstance(self.split_seed, int) or isinstance(self.split_seed, bool):
            raise ConfigError(f"data.split_seed must be an integer, not {self.split_seed!r}")
        if not isinstance(self.preprocess, dict):
            raise ConfigError(f"data.preprocess must be a mapping, not {self.preprocess!r}")
        self.preprocess_mode  # noqa: B018  (checks mode and clahe)
        if self.group_by is not None:
            if not isinstance(self.group_by, str) or not self.group_by:
                raise ConfigError(f"data.group_by must be the name of a group of the file-name "
                                  f"pattern, not {self.group_by!r}")
            if self.kind != "filenames":
                raise ConfigError(f"data.group_by reads groups from file names: it needs data.kind "
                                  f"'filenames', not {self.kind!r}")
        if not isinstance(self.group_merge, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in self.group_merge.items()):
            raise ConfigError(f"data.group_merge must map group names to group names, not "
                              f"{self.group_merge!r}")
        chained = sorted(set(self.group_merge.values()) & set(self.group_merge))
        if chained:
            raise ConfigError(f"data.group_merge maps {chained[0]!r} and maps onto it too; map "
                              "every name straight onto the group it stands for")

    @property
    def preprocess_mode(self) -> str:
        """The pixel transform of ``preprocess`` (``mode``, or ``clahe: true``), checked."""
        from ferkit.card import PREPROCESS_MODES

        pre = self.preprocess or {}
        mode = pre.get("mode", "clahe" if pre.get("clahe") else "none")
        if mode not in PREPROCESS_MODES:
            raise ConfigError(f"data.preprocess.mode must be one of {', '.join(PREPROCESS_MODES)}, "
                              f"not {mode!r}")
        if pre.get("clahe") and mode != "clahe":
            raise ConfigError(f"data.preprocess says clahe: true and mode: {mode!r}; keep one "
                              "(clahe: true is mode: clahe)")
        return mode

    @classmethod
    def from_dict(cls, d: dict) -> DataConfig:
        if not isinstance(d, dict):
            raise ConfigError(f"data must be a mapping of options, not {d!r}")
        check_options(cls, d, "data")
        return cls(**d)

    def with_preprocess(self, mode: str) -> DataConfig:
        """A copy whose pixel transform is ``mode`` (``none``: the crops as cut, what
        evaluating an ONNX model through its card needs)."""
        pre = {k: v for k, v in (self.preprocess or {}).items() if k not in ("mode", "clahe")}
        if mode != "none":
            pre["mode"] = mode
        return replace(self, preprocess=pre)


def read_config_file(path: Path, what: str = "config"):
    """The contents of a JSON, or YAML (``.yaml``/``.yml``), file; a file that cannot be
    read or parsed raises ConfigError."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read {what} {path}: {e}") from None
    if path.suffix in (".yaml", ".yml"):
        import yaml

        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise ConfigError(f"{path}: not valid YAML: {str(e).splitlines()[0]}") from None
    try:
        return json.loads(text)
    except ValueError as e:
        raise ConfigError(f"{path}: not valid JSON: {e}") from None


DISTILL_DEFAULTS = {"teachers": [], "weight": 0.7, "temperature": 2.0}


def check_distill(d) -> dict:
    """The distillation options with defaults filled in; ConfigError for anything else."""
    if not isinstance(d, dict):
        raise ConfigError(f"distill must be a mapping of options, not {d!r}")
    unknown = sorted(set(d) - set(DISTILL_DEFAULTS))
    if unknown:
        raise ConfigError(f"unknown distill option(s) {', '.join(unknown)}; known: "
                          f"{', '.join(DISTILL_DEFAULTS)}")
    out = {**DISTILL_DEFAULTS, **d}
    teachers = out["teachers"]
    if not isinstance(teachers, list) or not teachers or not all(isinstance(t, str) for t in teachers):
        raise ConfigError("distill.teachers must be a non-empty list of checkpoint paths or "
                          f"run folders, not {teachers!r}")
    w, t = out["weight"], out["temperature"]
    if isinstance(w, bool) or not isinstance(w, (int, float)) or not 0 <= w <= 1:
        raise ConfigError(f"distill.weight must be between 0 and 1, not {w!r}")
    if isinstance(t, bool) or not isinstance(t, (int, float)) or not t > 0:
        raise ConfigError(f"distill.temperature must be > 0, not {t!r}")
    return out


# Test-time augmentation of checkpoints (ferkit.train.inference.predict_logits).
TTA_MODES = ("none", "flip", "ten-crop")

# Weight initialisation and classifier head (ferkit.train.models.create_model).
INITS = ("default", "he_normal")
HEADS = ("linear", "dense512")

# Options every ensemble member must share (see TrainConfig.members).
SHARED_BY_MEMBERS = ("data", "image_size", "channels", "mean", "std")


def member_dir(run_dir: str | Path, index: int) -> Path:
    """Where ensemble member ``index`` of a run trains."""
    return Path(run_dir) / f"member-{index}"


def member_dirs(run_dir: str | Path) -> list[Path]:
    """The member folders of an ensemble run, in member order (empty for a single run)."""
    found = [(d.name.removeprefix("member-"), d) for d in Path(run_dir).glob("member-*")
             if d.is_dir()]
    return [d for i, d in sorted((int(i), d) for i, d in found if i.isdigit())]


@dataclass
class TrainConfig:
    name: str = "run"
    data: DataConfig = field(default_factory=DataConfig)
    model: str = "fercnn_s"
    channels: int = 1
    image_size: int = 48          # stored images are resized to this
    input_size: int = 40          # crop fed to the network
    drop_rate: float = 0.4
    weight_init: str = "default"  # default | he_normal (every conv/linear weight)
    head: str = "linear"          # linear | dense512 (Dense-512 + ReLU + dropout 0.5 + linear)
    augment: str | dict = "default"
    optimizer: str = "sgd"        # sgd | adamw | adam | rmsprop
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    schedule: str = "cosine"      # cosine | step | constant
    step_size: int = 20
    step_gamma: float = 0.1
    warmup_epochs: int = 2
    epochs: int = 60
    batch_size: int = 128
    label_smoothing: float = 0.0
    balance: str = "none"         # none | sampler | loss
    early_stopping: int = 0       # patience in epochs on validation accuracy; 0 = off
    seed: int = 0
    amp: bool = True              # bf16 on CPUs that support it, fp16 on CUDA
    threads: int = 0              # torch CPU threads; 0 = torch's default
    max_train_samples: int = 0    # 0 = all; for quick experiments and tests
    mean: float = 0.5
    std: float = 0.25
    notes: str = ""
    # Fine-tuning (ferkit.train.finetune): start from a packaged model's float weights or a
    # checkpoint, which fix the architecture and input; train only the head for freeze_epochs.
    init_weights: str = ""
    freeze_epochs: int = 0
    # Knowledge distillation from trained teachers (ferkit.train.distill): {"teachers":
    # [checkpoint or run folder, ...], "weight": 0.7, "temperature": 2.0}; empty = off.
    distill: dict = field(default_factory=dict)
    # Ensemble members: each entry overrides fields of this config (e.g. {"seed": 1});
    # they train one after another into <out>/member-<i> and export as one model.
    ensemble: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    def override(self, **values) -> None:
        """Set options (from the command line): they win over ensemble entries too.
        ``seed`` is refused for an ensemble, whose members differ by their seeds."""
        if "seed" in values and self.ensemble:
            raise ConfigError("this config is an ensemble whose members carry their own seeds; "
                             "edit its ensemble list instead of passing a seed")
        for key, value in values.items():
            setattr(self, key, value)
            for entry in self.ensemble:
                if isinstance(entry, dict) and key in entry:
                    entry[key] = value

    def members(self) -> list[TrainConfig]:
        """One config per ensemble member, or ``[self]`` when this is a single model.

        Members share the data and what the exported graph reads (image size,
        channels, normalisation): the data is loaded once for all of them and
        export refuses members that differ there, so such overrides fail here.
        """
        if not self.ensemble:
            return [self]
        configs = []
        for i, overrides in enumerate(self.ensemble):
            if not isinstance(overrides, dict) or "ensemble" in overrides:
                raise ConfigError(f"ensemble[{i}] must be a mapping of options to override "
                                 f"(not another ensemble), got {overrides!r}")
            shared = sorted(set(overrides) & set(SHARED_BY_MEMBERS))
            if shared:
                raise ConfigError(f"ensemble[{i}] overrides {', '.join(shared)}, which all "
                                 "members share; set it on the config itself")
            d = {**self.to_dict(), "name": f"{self.name}-member{i}", **overrides, "ensemble": []}
            configs.append(TrainConfig.from_dict(d))
        return configs

    def validate(self) -> TrainConfig:
        """Raise :class:`~ferkit.errors.ConfigError` for values no run can train with."""
        positive_ints = ("epochs", "batch_size", "image_size", "input_size")
        for name in positive_ints:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{name} must be a positive integer, not {value!r}"
                                  + (" (a run needs at least one epoch)" if name == "epochs"
                                     else ""))
        if self.input_size > self.image_size:
            raise ConfigError(f"input_size ({self.input_size}) cannot exceed image_size "
                              f"({self.image_size})")
        if self.channels not in (1, 3):
            raise ConfigError(f"channels must be 1 or 3, not {self.channels!r}")
        from ferkit.card import check_preprocess

        try:
            check_preprocess(self.data.preprocess_mode, self.channels)
        except ValueError as e:
            raise ConfigError(f"data.preprocess: {e}") from None
        if not self.lr > 0:
            raise ConfigError(f"lr must be > 0, not {self.lr!r}")
        if not self.std > 0:
            raise ConfigError(f"std must be > 0, not {self.std!r}")
        for name in ("warmup_epochs", "early_stopping", "max_train_samples", "threads",
                     "freeze_epochs"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 0:
                raise ConfigError(f"{name} must be an integer >= 0, not {value!r}")
        if self.distill:
            check_distill(self.distill)
        choices = {"optimizer": ("sgd", "adamw", "adam", "rmsprop"),
                   "schedule": ("cosine", "step", "constant"),
                   "balance": ("none", "sampler", "loss"), "weight_init": INITS, "head": HEADS}
        for name, allowed in choices.items():
            if str(getattr(self, name)).lower() not in allowed:
                raise ConfigError(f"{name} must be one of {', '.join(allowed)}, "
                                  f"not {getattr(self, name)!r}")
        return self

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        if not isinstance(d, dict):
            raise ConfigError(f"a training config is a mapping of options, not {type(d).__name__}")
        d = dict(d)
        check_options(cls, d, "training")
        if isinstance(d.get("data"), dict):
            d["data"] = DataConfig.from_dict(d["data"])
        try:
            return cls(**d)
        except TypeError as e:
            raise ConfigError(f"bad training config: {e}") from None

    @classmethod
    def load(cls, path: str | Path) -> TrainConfig:
        """Read a JSON or YAML config; a file that is not one raises ConfigError."""
        path = Path(path)
        d = read_config_file(path)
        try:
            return cls.from_dict(d)
        except ConfigError as e:
            raise ConfigError(f"{path}: {e}") from None

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n",
                              encoding="utf-8")

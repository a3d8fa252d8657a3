"""Training run configuration (a dataclass, read from / written to JSON or YAML)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path


@dataclass
class DataConfig:
    """Where the training data comes from.

    ``kind``: ``fer2013`` (``path``), ``ferplus`` (``path`` + ``votes``, ``label_mode``
    ``majority`` or ``soft``), ``folder`` (``path`` = ``root/<label>/<image>``) or
    ``filenames`` (``path`` + ``pattern``). Folder/filename sets are split by
    ``val_fraction``/``test_fraction`` unless they carry splits.
    ``preprocess`` holds :class:`~ferkit.train.datasets.PreprocessOptions` for image
    files (``detector``, ``template``, ``margin``, ``clahe``, ``no_face``, ``size``,
    ``channels``); FER2013 rows take only ``clahe``.
    """

    kind: str = "fer2013"
    path: str = "../shared/data/fer2013/fer2013.csv.gz"
    votes: str | None = None
    label_mode: str = "hard"
    pattern: str | None = None
    label_set: str | None = None
    train_split: str = "Training"
    val_split: str = "PublicTest"
    test_split: str = "PrivateTest"
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    preprocess: dict = field(default_factory=dict)


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
    # Ensemble members: each entry overrides fields of this config (e.g. {"seed": 1});
    # they train one after another into <out>/member-<i> and export as one model.
    ensemble: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    def override(self, **values) -> None:
        """Set options (from the command line): they win over ensemble entries too.
        ``seed`` is refused for an ensemble, whose members differ by their seeds."""
        if "seed" in values and self.ensemble:
            raise ValueError("this config is an ensemble whose members carry their own seeds; "
                             "edit its ensemble list instead of passing a seed")
        for key, value in values.items():
            setattr(self, key, value)
            for entry in self.ensemble:
                if isinstance(entry, dict) and key in entry:
                    entry[key] = value

    def members(self) -> list["TrainConfig"]:
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
                raise ValueError(f"ensemble[{i}] must be a mapping of options to override "
                                 f"(not another ensemble), got {overrides!r}")
            shared = sorted(set(overrides) & set(SHARED_BY_MEMBERS))
            if shared:
                raise ValueError(f"ensemble[{i}] overrides {', '.join(shared)}, which all "
                                 "members share; set it on the config itself")
            d = {**self.to_dict(), "name": f"{self.name}-member{i}", **overrides, "ensemble": []}
            configs.append(TrainConfig.from_dict(d))
        return configs

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        d = dict(d)
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown training option(s): {', '.join(sorted(unknown))}")
        if isinstance(d.get("data"), dict):
            dk = {f.name for f in fields(DataConfig)}
            bad = set(d["data"]) - dk
            if bad:
                raise ValueError(f"unknown data option(s): {', '.join(sorted(bad))}")
            d["data"] = DataConfig(**d["data"])
        return cls(**d)

    @classmethod
    def load(cls, path: str | Path) -> "TrainConfig":
        path = Path(path)
        text = path.read_text()
        if path.suffix in (".yaml", ".yml"):
            import yaml

            return cls.from_dict(yaml.safe_load(text))
        return cls.from_dict(json.loads(text))

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

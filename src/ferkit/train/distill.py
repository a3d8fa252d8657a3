"""Knowledge distillation: a student learns the averaged predictions of several teachers.

Teachers see the student's own augmented batch (online distillation), each at its own
input size and normalisation, so the student learns what the ensemble says about exactly
the pixels it is shown. The loss mixes the temperature-softened KL divergence to the
teachers' mean distribution with cross-entropy on the (hard or soft) labels.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class TeacherInput:
    """How a teacher wants its pixels: crop size, channels and normalisation."""

    size: int
    channels: int = 1
    mean: float = 0.5
    std: float = 0.25


class TeacherEnsemble(nn.Module):
    """Frozen teachers whose softened predictions are averaged."""

    def __init__(self, teachers: list[nn.Module], inputs: list[TeacherInput]) -> None:
        super().__init__()
        if not teachers or len(teachers) != len(inputs):
            raise ValueError("one TeacherInput per teacher, and at least one teacher")
        self.teachers = nn.ModuleList(teachers).eval().requires_grad_(False)
        self.inputs = inputs

    def train(self, mode: bool = True) -> TeacherEnsemble:
        return super().train(False)     # teachers stay in eval mode (BN statistics, dropout)

    @torch.no_grad()
    def probabilities(self, x: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
        """Mean of the teachers' ``softmax(logits / temperature)`` for ``[0, 1]`` pixels
        ``(N, C, S, S)`` (the student's augmented batch, before normalisation)."""
        out = 0
        for teacher, spec in zip(self.teachers, self.inputs):
            xi = x
            if xi.shape[1] != spec.channels:
                xi = xi.mean(1, keepdim=True) if spec.channels == 1 else xi.expand(-1, 3, -1, -1)
            if xi.shape[-1] != spec.size:
                xi = F.interpolate(xi, size=spec.size, mode="bilinear", align_corners=False)
            logits = teacher(((xi - spec.mean) / spec.std).contiguous(
                memory_format=torch.channels_last)).float()
            out = out + F.softmax(logits / temperature, 1)
        return out / len(self.teachers)


def distillation_loss(student_logits: torch.Tensor, teacher_probs: torch.Tensor,
                      targets: torch.Tensor, temperature: float, weight: float) -> torch.Tensor:
    """``weight * T^2 * KL(teachers || student at T) + (1 - weight) * CE(targets)``, batch mean.

    ``targets`` are per-class distributions ``(N, C)`` (one-hot for hard labels).
    """
    logits = student_logits.float()
    log_p_t = F.log_softmax(logits / temperature, 1)
    kd = (teacher_probs * (torch.log(teacher_probs.clamp_min(1e-8)) - log_p_t)).sum(1)
    ce = -(targets * F.log_softmax(logits, 1)).sum(1)
    return (weight * temperature ** 2 * kd + (1 - weight) * ce).mean()


def load_teachers(options: dict, labels: list[str], device) -> TeacherEnsemble:
    """The teacher checkpoints (or run folders) a config's ``distill.teachers`` names, on
    ``device``; every teacher must predict the student's ``labels`` in the same order."""
    from ferkit.errors import ConfigError

    from .checkpoint import find_checkpoints, load_checkpoint

    models, inputs = [], []
    for source in options["teachers"]:
        for path in find_checkpoints(source):
            ck = load_checkpoint(path, device)
            if list(ck.label_set.labels) != list(labels):
                raise ConfigError(f"teacher {path} predicts {', '.join(ck.label_set.labels)}; the "
                                  f"student learns {', '.join(labels)}: distillation needs the same "
                                  "classes in the same order")
            models.append(ck.model.to(memory_format=torch.channels_last))
            inputs.append(TeacherInput(ck.config.input_size, ck.config.channels, ck.config.mean,
                                       ck.config.std))
    return TeacherEnsemble(models, inputs).to(device)

"""Which epoch's weights a run keeps: ``select`` names the validation figure (accuracy, F1,
BLEU, or the loss) the trainer maximises when it saves ``model.safetensors``
(:class:`rnnkit.train.Trainer`'s ``select``)."""

from __future__ import annotations

SELECT_LOSS = "loss"


def check_select(select: str, choices: tuple[str, ...]) -> None:
    if select not in choices:
        raise ValueError(f"select must be one of {', '.join(choices)}, got {select!r}")

"""Tokens → ids, with optional sentence markers (torch-free: the ONNX runtime path reads
texts through it)."""

from __future__ import annotations

from collections.abc import Sequence

from rnnkit.text import Vocab


def encode(
    tokens: Sequence[str], vocab: Vocab, *, bos: bool = False, eos: bool = False
) -> list[int]:
    """Ids of ``tokens``, wrapped in ``<s>`` … ``</s>`` when ``bos``/``eos`` are set.

    >>> vocab = Vocab.build([["what", "are", "n't"]])
    >>> encode(["what", "are"], vocab, bos=True, eos=True)
    [2, 4, 5, 3]
    """
    ids = vocab.encode(tokens)
    if bos:
        ids.insert(0, vocab.bos_id)
    if eos:
        ids.append(vocab.eos_id)
    return ids

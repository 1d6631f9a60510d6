"""rnnkit.data: file readers (corpora, labelled text with its format sniffed, CoNLL, pairs), encoding, padding, masks, bucketing, LM stream batches,
memory-mapped token files, pretrained vectors, random spans and masked copies (may use torch;
imports ``rnnkit.text``).

See ../shared/DESIGN.md for what this layer owns.
"""

from rnnkit.data.batching import Batch, BucketBatchSampler, LMStream, collate
from rnnkit.data.encoding import encode, one_hot
from rnnkit.data.labelled import LABELLED_FORMATS, read_examples, read_label_first
from rnnkit.data.masking import MaskedCopy, sample_masked_copies
from rnnkit.data.padding import lengths_to_mask, pad_nested, pad_sequences, sequence_lengths
from rnnkit.data.prepared import PreparedCorpus, load_prepared, prepare
from rnnkit.data.readers import (
    iter_lines,
    read_conll,
    read_conll_tokens,
    read_corpus,
    read_labeled,
    read_pairs,
)
from rnnkit.data.spans import Span, sample_spans
from rnnkit.data.vectors import PretrainedVectors, load_vectors

__all__ = [
    "LABELLED_FORMATS",
    "Batch",
    "BucketBatchSampler",
    "LMStream",
    "MaskedCopy",
    "PreparedCorpus",
    "PretrainedVectors",
    "Span",
    "collate",
    "encode",
    "iter_lines",
    "lengths_to_mask",
    "load_prepared",
    "load_vectors",
    "one_hot",
    "pad_nested",
    "pad_sequences",
    "prepare",
    "read_conll",
    "read_conll_tokens",
    "read_corpus",
    "read_examples",
    "read_label_first",
    "read_labeled",
    "read_pairs",
    "sample_masked_copies",
    "sample_spans",
    "sequence_lengths",
]

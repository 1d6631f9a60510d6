"""rnnkit.data: file readers (corpora, labelled text with its format sniffed, CoNLL, pairs,
ABC tunes), encoding, padding, masks, bucketing, LM stream batches, memory-mapped token files,
pretrained vectors, random spans and masked copies (may use torch; imports ``rnnkit.text``).

The names below load their module on first use, so the torch-free parts (readers, encoding,
numpy padding and stream windows) serve the ONNX runtime path without importing torch.

See ../shared/DESIGN.md for what this layer owns.
"""

from importlib import import_module

_MODULE_OF = {
    "bundled_folk_tunes": "abc",
    "read_abc": "abc",
    "split_tunes": "abc",
    "write_abc_file": "abc",
    "Batch": "batching",
    "BucketBatchSampler": "batching",
    "LMStream": "batching",
    "collate": "batching",
    "LMWindows": "streams",
    "encode": "encoding",
    "one_hot": "one_hot",
    "LABELLED_FORMATS": "labelled",
    "read_examples": "labelled",
    "read_label_first": "labelled",
    "MaskedCopy": "masking",
    "sample_masked_copies": "masking",
    "lengths_to_mask": "padding",
    "pad_nested": "padding",
    "pad_sequences": "padding",
    "sequence_lengths": "padding",
    "pad_array": "arrays",
    "pad_nested_array": "arrays",
    "lengths_array": "arrays",
    "PreparedCorpus": "prepared",
    "load_prepared": "prepared",
    "prepare": "prepared",
    "iter_lines": "readers",
    "read_conll": "readers",
    "read_conll_tokens": "readers",
    "read_corpus": "readers",
    "read_labeled": "readers",
    "read_pairs": "readers",
    "Span": "spans",
    "sample_spans": "spans",
    "PretrainedVectors": "vectors",
    "load_vectors": "vectors",
}

__all__ = [
    "LABELLED_FORMATS",
    "Batch",
    "BucketBatchSampler",
    "LMStream",
    "LMWindows",
    "MaskedCopy",
    "PreparedCorpus",
    "PretrainedVectors",
    "Span",
    "bundled_folk_tunes",
    "collate",
    "encode",
    "iter_lines",
    "lengths_array",
    "lengths_to_mask",
    "load_prepared",
    "load_vectors",
    "one_hot",
    "pad_array",
    "pad_nested",
    "pad_nested_array",
    "pad_sequences",
    "prepare",
    "read_abc",
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
    "split_tunes",
    "write_abc_file",
]


def __getattr__(name: str):
    if name not in _MODULE_OF:
        raise AttributeError(f"module 'rnnkit.data' has no attribute {name!r}")
    value = getattr(import_module(f"rnnkit.data.{_MODULE_OF[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

"""Accuracy of several trained classification directories, alone and with their class
probabilities averaged, on one labelled file. The source of the SST-2 ensemble figures in
``benchmarks/RESULTS.md`` (the toolkit itself has no ensemble command).

    python benchmarks/eval_ensemble.py ../shared/data/sst2/stsa.binary.dev runs/sst/cos_s0 \\
        runs/sst/cos_s1 runs/sst/cos_s2
"""

from __future__ import annotations

import argparse

import torch

from rnnkit.tasks.classification import (
    encode_texts,
    label_ids,
    load_classifier,
    predict_probabilities,
    read_examples,
)


def probabilities(directory: str, path: str) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Class probabilities ``(N, C)`` of one model on the file, the gold label ids ``(N,)``
    and the model's label order."""
    loaded = load_classifier(directory)
    data = loaded.data
    examples = read_examples(path, data.format, data.text_column, data.label_column)
    encoded = encode_texts([text for text, _ in examples], loaded.tokenizer, loaded.vocab,
                           data.max_length, path, skip_empty=True,
                           hasher=loaded.hasher)
    gold = label_ids([examples[index][1] for index in encoded.kept], loaded.labels, path)
    return (predict_probabilities(loaded.model, encoded.ids, subwords=encoded.subwords),
            torch.tensor(gold), loaded.labels)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", help="labelled file, in the models' training format")
    parser.add_argument("models", nargs="+", help="classification model directories")
    args = parser.parse_args()
    total, gold, labels = None, None, None
    for directory in args.models:
        probs, model_gold, model_labels = probabilities(directory, args.data)
        if labels is not None and (model_labels != labels or not torch.equal(model_gold, gold)):
            raise SystemExit(f"{directory}: its labels or kept examples differ from "
                             f"{args.models[0]}'s; models of one ensemble must share them")
        total, gold, labels = (probs if total is None else total + probs), model_gold, model_labels
        print(f"{directory}: accuracy {(probs.argmax(-1) == gold).float().mean().item():.4f}")
    accuracy = (total.argmax(-1) == gold).float().mean().item()
    print(f"average of {len(args.models)} models' probabilities: accuracy {accuracy:.4f}")


if __name__ == "__main__":
    main()

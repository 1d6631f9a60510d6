"""The seeds' worked examples, run through rnnkit.

1. torch's RNN example: ``RNN(10, 20)`` over ``(5, 3, 10)`` with ``h0 (1, 3, 20)``.
2. An LSTM over an embedded sentence (English and Chinese), with each step's gate values.

Run: ``python examples/seed_examples.py`` (``make demo`` runs it before the LM demo).
"""

import torch

import rnnkit.nn as rn
from rnnkit.text import Vocab, get_tokenizer


def rnn_shapes() -> None:
    torch.manual_seed(0)
    rnn = rn.RNN(10, 20)
    input = torch.randn(5, 3, 10)  # (L, N, H_in)
    h0 = torch.randn(1, 3, 20)  # (num_layers * D, N, H_out)
    output, hn = rnn(input, h0)
    print("1. rnn = RNN(10, 20); output, hn = rnn(randn(5, 3, 10), randn(1, 3, 20))")
    print(f"   output {tuple(output.shape)}, h_n {tuple(hn.shape)}, "
          f"output[-1] == h_n everywhere: {bool(torch.all(output[-1] == hn))}\n")


def lstm_gates(sentence: str, tokenizer_name: str) -> None:
    tokens = get_tokenizer(tokenizer_name).tokenize(sentence)
    vocab = Vocab.build([tokens])
    ids = torch.tensor([vocab.encode(tokens)])  # (1, T)
    torch.manual_seed(0)
    embedding = torch.nn.Embedding(len(vocab), 8)
    lstm = rn.LSTM(8, 4, batch_first=True)
    with torch.no_grad():
        output, (h_n, _), gates = lstm(embedding(ids), return_gates=True)
    print(f"   tokens ({tokenizer_name}): {tokens}")
    print(f"   ids: {ids[0].tolist()}; output {tuple(output.shape)}, h_n {tuple(h_n.shape)}")
    print("   step  token        i (mean)  f (mean)  o (mean)  c[0]     h[0]")
    trace = gates["l0"]
    for t, token in enumerate(tokens):
        print(f"   {t:>4}  {token:<10}  {float(trace['i'][0, t].mean()):8.3f}  "
              f"{float(trace['f'][0, t].mean()):8.3f}  {float(trace['o'][0, t].mean()):8.3f}  "
              f"{float(trace['c'][0, t, 0]):7.3f}  {float(trace['h'][0, t, 0]):7.3f}")
    print()


if __name__ == "__main__":
    rnn_shapes()
    print("2. An LSTM (hidden 4) over an embedded sentence, gate values per step:")
    lstm_gates("What are n't you understanding about this ? !", "word")
    lstm_gates("接触LSTM模型不久，简单看了一些相关的论文", "chinese")

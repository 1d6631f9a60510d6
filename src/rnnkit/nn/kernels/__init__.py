"""Kernels that run a recurrent layer, and the one place that chooses among them.

- ``reference``: a Python loop over ``rnnkit.nn.functional``'s steps, differentiated by
  autograd; serves everything and is the yardstick of the tests.
- ``bptt``: one ``torch.autograd.Function`` per cell kind (``bptt_lstm``, ``bptt_gru``,
  ``bptt_rnn``) with a hand-written backward through time; serves every option except
  ``return_gates``. It runs its time loops compiled where ``fused_loop`` serves them.
- ``native``: torch's fused op (oneDNN LSTM on CPU, cuDNN on CUDA); serves torch.nn's exact
  configurations only.

``impl="auto"`` picks, among the kernels that serve the call, the fastest one by the rules of
``dispatch`` (:data:`AUTO_TABLE` and, for GRU/RNN inference on CPU, the size); every other
choice of how a kernel runs (compiled loops, packed products, chunk sizes) is a rule there too.
"""

from __future__ import annotations

from rnnkit.nn.kernels.dispatch import AUTO_TABLE, choose_impl

__all__ = ["AUTO_TABLE", "choose_impl"]

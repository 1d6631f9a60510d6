"""rnnkit.nn: recurrent layers built from their equations.

torch.nn's API, parameter names and numbers for ``RNN``, ``LSTM``, ``GRU`` and their cells,
plus Keras' cell options and the extras (layer norm, zoneout, weight drop). See
``rnnkit.nn.functional`` for the equations and ``rnnkit.nn.kernels`` for how they run.
"""

from rnnkit.nn.cells import GRUCell, LSTMCell, RNNCell
from rnnkit.nn.config import GATES, CellConfig, LayerConfig
from rnnkit.nn.layers import GRU, LSTM, RNN, RecurrentLayer

__all__ = [
    "GATES",
    "GRU",
    "LSTM",
    "RNN",
    "CellConfig",
    "GRUCell",
    "LSTMCell",
    "LayerConfig",
    "RNNCell",
    "RecurrentLayer",
]

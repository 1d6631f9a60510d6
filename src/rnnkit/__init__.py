"""rnnkit: recurrent neural networks for text, end to end.

Layers of the package (imports point down this list, never up):
``text`` → ``data`` → ``configs`` → ``nn`` → ``models`` → ``train`` → ``tasks`` →
``export`` → ``cli`` and ``serve``. The pipelines' text side (``tasks.*_pipeline``) and the
onnxruntime path (``export.runtime``) import no torch. ``extras`` (optional packages, and the
error naming the extra that installs one) and ``_lazy`` (the packages' names imported on first
use) import only the standard library, so every layer may use them.

Shape letters, with one meaning each in every docstring and shape comment of the package
(``(B, T, D*H)``, ``(G*H, I)``; torch.nn's docs write ``N``, ``L``, ``H_in`` for our ``B``,
``T``, ``I``):

======  ===================================================================================
B       batch: sequences in a batch
T       time steps: the padded sequence length (a seq2seq model's target steps)
S       source steps of a seq2seq model
I       input features per step of a recurrent layer
H       hidden size: units of one direction of one recurrent layer
P       projection size of an LSTM with ``proj_size``
H_out   size of ``h``: ``P`` when an LSTM projects, else ``H``
G       gates of a cell (RNN 1, LSTM 4, GRU 3); its weights stack ``G*H`` rows
D       directions: 1, or 2 when bidirectional
L       layers
E       embedding size (``E_c``: of characters)
V       vocabulary size
C       classes: a classifier's labels, a tagger's tags
W       inner items per step of nested sequences: characters per word, subword ids per token
F       character features per word
M       feature size of the states an attention reads (its memory: an encoder's ``D*H``)
Q       query size of an attention
A       attention size
K       beam width
N       items of a flat collection: sequences of a data set, ids of a token stream, rows of a
        flattened batch
======  ===================================================================================
"""

from rnnkit._lazy import lazy_exports

__version__ = "0.1.0"

__all__ = ["__version__", "load"]

# ``rnnkit.load`` is imported on first use, so ``import rnnkit`` stays light and the CLI can set
# threading variables before torch loads; it loads an export directory without importing torch.
__getattr__, __dir__ = lazy_exports(__name__, {"load": "loading"})

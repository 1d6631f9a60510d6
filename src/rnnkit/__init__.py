"""rnnkit: recurrent neural networks for text, end to end.

Layers of the package (imports point down this list, never up):
``text`` → ``data`` → ``nn`` → ``models`` → ``train`` → ``tasks`` → ``cli``.
"""

__version__ = "0.1.0"

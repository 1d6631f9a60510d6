"""rnnkit.text: tokenizers, sentence splitting and vocabularies (no torch here).

See ../shared/DESIGN.md for what this layer owns.
"""

from rnnkit.text.atomic import atomic_path
from rnnkit.text.sentences import split_sentences
from rnnkit.text.subwords import SubwordHasher
from rnnkit.text.tokenizers import (
    TOKENIZERS,
    AutoTokenizer,
    CharTokenizer,
    ChineseTokenizer,
    Tokenizer,
    WhitespaceTokenizer,
    WordTokenizer,
    get_tokenizer,
)
from rnnkit.text.vocab import BOS, DEFAULT_SPECIALS, EOS, PAD, UNK, Vocab

__all__ = [
    "BOS",
    "DEFAULT_SPECIALS",
    "EOS",
    "PAD",
    "TOKENIZERS",
    "UNK",
    "AutoTokenizer",
    "CharTokenizer",
    "ChineseTokenizer",
    "SubwordHasher",
    "Tokenizer",
    "Vocab",
    "WhitespaceTokenizer",
    "WordTokenizer",
    "atomic_path",
    "get_tokenizer",
    "split_sentences",
]

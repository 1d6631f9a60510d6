"""Tokenizers: the seeds' examples, each tokenizer's rules, the registry and its errors."""

import pickle
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rnnkit.text import TOKENIZERS, Tokenizer, get_tokenizer

SEED_CHINESE = "接触LSTM模型不久，简单看了一些相关的论文"
SEED_CHINESE_WORDS = [
    "接触",
    "LSTM",
    "模型",
    "不久",
    "，",
    "简单",
    "看",
    "了",
    "一些",
    "相关",
    "的",
    "论文",
]


def test_seed_jieba_example_splits_into_words():
    assert get_tokenizer("chinese").tokenize(SEED_CHINESE) == SEED_CHINESE_WORDS


def test_auto_sends_cjk_runs_to_jieba_and_latin_to_english_rules():
    assert get_tokenizer("auto").tokenize(SEED_CHINESE) == SEED_CHINESE_WORDS
    assert get_tokenizer("auto").tokenize("我们使用PyTorch's LSTM，aren't you?") == [
        "我们",
        "使用",
        "PyTorch",
        "'s",
        "LSTM",
        "，",
        "are",
        "n't",
        "you",
        "?",
    ]


def test_seed_wildml_sentence_splits_contractions_ptb_style():
    tokens = get_tokenizer("word").tokenize("what aren't you understanding about this?!")
    assert tokens == ["what", "are", "n't", "you", "understanding", "about", "this", "?", "!"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("They aren't here, are they?", "They are n't here , are they ?"),
        (
            "I can't, it's 3.10 GHz (U.S. only) for $5!",
            "I ca n't , it 's 3.10 GHz ( U.S. only ) for $ 5 !",
        ),
        ("I'm sure we'll see; you'd've", "I 'm sure we 'll see ; you 'd 've"),
        ("state-of-the-art 1930s 1,000,000", "state-of-the-art 1930s 1,000,000"),
        (" pierre <unk> N years old </s>", "pierre <unk> N years old </s>"),
        ("DON'T Won’t", "DO N'T Wo n’t"),
    ],
)
def test_word_tokenizer_rules(text, expected):
    assert get_tokenizer("word").tokenize(text) == expected.split()


def test_word_lowercase_option():
    assert get_tokenizer("word", lowercase=True).tokenize("The U.S. Isn't") == [
        "the",
        "u.s.",
        "is",
        "n't",
    ]


@pytest.mark.parametrize(
    "text",
    ["They aren't here, are they?", "I can't believe it's $5 (or less).", "Hello; world: fine!"],
)
def test_word_detokenize_inverts_tokenize_on_prose(text):
    tokenizer = get_tokenizer("word")
    assert tokenizer.detokenize(tokenizer.tokenize(text)) == text


def test_chinese_and_auto_detokenize_join_chinese_without_spaces():
    for name in ("chinese", "auto"):
        tokenizer = get_tokenizer(name)
        assert tokenizer.detokenize(tokenizer.tokenize(SEED_CHINESE)) == SEED_CHINESE
    auto = get_tokenizer("auto")
    assert (
        auto.detokenize(auto.tokenize("我爱Python 3.10和PyTorch!")) == "我爱Python 3.10和PyTorch!"
    )


def test_chinese_drops_whitespace_tokens():
    assert get_tokenizer("chinese").tokenize("你好 world  再见\n") == ["你好", "world", "再见"]


def test_chinese_user_dictionary_changes_segmentation(tmp_path):
    user_dict = tmp_path / "user.txt"
    user_dict.write_text("简单看了 100000\n", encoding="utf-8")
    tokens = get_tokenizer("chinese", user_dict=str(user_dict)).tokenize(SEED_CHINESE)
    assert "简单看了" in tokens
    assert get_tokenizer("chinese").tokenize(SEED_CHINESE) == SEED_CHINESE_WORDS


def test_chinese_user_dictionary_must_exist(tmp_path):
    with pytest.raises(ValueError, match="user_dict must be an existing file"):
        get_tokenizer("chinese", user_dict=str(tmp_path / "missing.txt"))


@given(st.text(max_size=50))
def test_char_tokenizer_round_trips_exactly(text):
    tokenizer = get_tokenizer("char")
    assert tokenizer.tokenize(text) == list(text)
    assert tokenizer.detokenize(tokenizer.tokenize(text)) == text


@given(
    st.lists(
        st.text(alphabet=st.characters(blacklist_categories=("Z", "C")), min_size=1), max_size=10
    )
)
def test_whitespace_tokenizer_round_trips_tokens(tokens):
    tokenizer = get_tokenizer("whitespace")
    assert tokenizer.tokenize(tokenizer.detokenize(tokens)) == tokens


@given(st.text(max_size=80))
def test_word_tokens_never_contain_whitespace_and_keep_every_visible_char(text):
    tokens = get_tokenizer("word").tokenize(text)
    assert all(token and not any(ch.isspace() for ch in token) for token in tokens)
    assert "".join(tokens) == "".join(text.split())


@pytest.mark.parametrize("name", sorted(TOKENIZERS))
def test_every_tokenizer_follows_the_protocol_and_rebuilds_from_its_config(name):
    tokenizer = get_tokenizer(name)
    assert isinstance(tokenizer, Tokenizer)
    assert get_tokenizer(**tokenizer.config()) == tokenizer
    assert pickle.loads(pickle.dumps(tokenizer)) == tokenizer  # DataLoader workers get copies
    assert tokenizer.tokenize("") == []


def test_unknown_tokenizer_name_is_a_clear_error():
    with pytest.raises(
        ValueError, match=r"get_tokenizer: name must be one of .*'word'.*got 'spacy'"
    ):
        get_tokenizer("spacy")


def test_unknown_tokenizer_option_is_a_clear_error():
    with pytest.raises(
        TypeError, match=r"tokenizer 'char' accepts options \[\], got \['lowercase'\]"
    ):
        get_tokenizer("char", lowercase=True)


def test_text_layer_does_not_import_torch():
    code = "import sys, rnnkit.text; assert 'torch' not in sys.modules, 'torch was imported'"
    subprocess.run([sys.executable, "-c", code], check=True)

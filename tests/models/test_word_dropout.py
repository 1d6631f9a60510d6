import pytest
import torch

from rnnkit.models import classifier, tagger
from rnnkit.models.word_dropout import drop_words


def test_eval_and_zero_probability_return_ids_unchanged():
    ids = torch.tensor([[4, 5, 0]])
    assert drop_words(ids, 0.5, 1, training=False) is ids
    assert drop_words(ids, 0.0, 1, training=True) is ids


def test_training_replaces_about_p_of_the_tokens_and_never_padding():
    torch.manual_seed(0)
    ids = torch.randint(2, 50, (200, 100))
    ids[:, 80:] = 0
    dropped = drop_words(ids, 0.25, 1, training=True)
    assert (dropped[:, 80:] == 0).all()
    changed = dropped[:, :80] != ids[:, :80]
    assert (dropped[:, :80][changed] == 1).all()
    assert abs(changed.float().mean().item() - 0.25) < 0.01


@pytest.mark.parametrize("config_class", [tagger.TaggerConfig, classifier.ClassifierConfig])
@pytest.mark.parametrize("value", [-0.1, 1.0])
def test_word_dropout_out_of_range_is_refused(config_class, value):
    extra = {"tags": ("O",), "char_vocab_size": 5} if config_class is tagger.TaggerConfig \
        else {"num_classes": 2}
    with pytest.raises(ValueError, match="word_dropout"):
        config_class(vocab_size=10, word_dropout=value, **extra)


def test_tagger_with_word_dropout_is_deterministic_in_eval_and_noisy_in_training():
    torch.manual_seed(0)
    model = tagger.Tagger(tagger.TaggerConfig(vocab_size=20, tags=("O", "B-X"),
                                              char_encoder="none", word_dropout=0.5,
                                              dropout=0.0))
    words, lengths = torch.randint(2, 20, (4, 7)), torch.full((4,), 7)
    model.eval()
    first = model(words, lengths).emissions
    assert torch.equal(first, model(words, lengths).emissions)
    model.train()
    assert not torch.equal(model(words, lengths).emissions, model(words, lengths).emissions)


def test_classifier_with_word_dropout_uses_unk_id_in_training():
    torch.manual_seed(0)
    config = classifier.ClassifierConfig(vocab_size=20, num_classes=2, word_dropout=0.999,
                                         unk_id=3)
    model = classifier.Classifier(config).train()
    seen = []
    model.embedding.register_forward_hook(lambda module, inputs, output: seen.append(inputs[0]))
    ids = torch.tensor([[5, 6, 7, 0]])
    model(ids, torch.tensor([3]))
    assert seen[0].tolist() == [[3, 3, 3, 0]]

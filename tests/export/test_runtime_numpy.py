"""The onnxruntime path's numpy pieces against the torch code they reproduce: Viterbi and
the CRF loss against ``rnnkit.models.crf``, greedy and beam search against ``Seq2Seq``,
the sampling filters against ``rnnkit.models.sampling``."""

import numpy as np
import pytest
import torch

from rnnkit.export.sampling import filter_logits, next_tokens
from rnnkit.export.search import DecoderState, Memory, beam_search, greedy
from rnnkit.export.viterbi import negative_log_likelihood, viterbi
from rnnkit.models import sampling as torch_sampling
from rnnkit.models.crf import CRF
from rnnkit.models.seq2seq import DecoderState as TorchState
from rnnkit.models.seq2seq import Memory as TorchMemory
from rnnkit.models.seq2seq import Seq2Seq, Seq2SeqConfig
from rnnkit.sampling_config import SamplingConfig

TAGS = ("O", "B-PER", "I-PER", "B-LOC", "I-LOC")


def _crf(seed: int) -> CRF:
    torch.manual_seed(seed)
    crf = CRF(len(TAGS), TAGS, "BIO")
    with torch.no_grad():
        for parameter in crf.parameters():
            parameter.normal_()
    return crf


def _numpy_scores(crf: CRF) -> dict[str, np.ndarray]:
    transitions, start, end = crf.scores()
    return {"transitions": transitions.detach().numpy(), "start": start.detach().numpy(),
            "end": end.detach().numpy()}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_viterbi_decodes_as_the_crf_on_random_scores_with_lengths(seed):
    crf = _crf(seed)
    emissions = torch.randn(4, 7, len(TAGS))
    lengths = torch.tensor([7, 1, 4, 6])
    mask = torch.arange(7)[None, :] < lengths[:, None]
    expected = crf.decode(emissions, mask)
    got = viterbi(emissions.numpy(), lengths.numpy(), **_numpy_scores(crf))
    assert got == expected
    assert [len(path) for path in got] == lengths.tolist()


def test_the_crf_loss_in_numpy_is_the_crfs_negative_log_likelihood():
    crf = _crf(3)
    emissions = torch.randn(3, 5, len(TAGS))
    lengths = torch.tensor([5, 2, 3])
    mask = torch.arange(5)[None, :] < lengths[:, None]
    tags = torch.randint(0, len(TAGS), (3, 5)) * mask
    expected = -crf.log_likelihood(emissions, tags, mask)
    got = negative_log_likelihood(emissions.numpy(), lengths.numpy(), tags.numpy(),
                                  **_numpy_scores(crf))
    np.testing.assert_allclose(got, expected.detach().numpy(), rtol=1e-5)


def _seq2seq(seed: int) -> Seq2Seq:
    torch.manual_seed(seed)
    model = Seq2Seq(Seq2SeqConfig(source_vocab_size=12, target_vocab_size=9, embed_size=6,
                                  hidden_size=5, attention_size=4, dropout=0.0))
    return model.eval()


def _numpy_decoder(model: Seq2Seq, source: torch.Tensor, lengths: torch.Tensor):
    """``model``'s encoder and step as numpy functions (what the ONNX graphs compute)."""
    memory, state = model.encode(source, lengths)

    def step(previous, state, memory):
        mask = torch.arange(memory.states.shape[1])[None, :] < torch.from_numpy(
            memory.lengths)[:, None]
        torch_state = TorchState(*(torch.from_numpy(part) for part in state))
        logits, new, weights = model.step(torch.from_numpy(previous), torch_state,
                                          TorchMemory(torch.from_numpy(memory.states), mask))
        return (torch.log_softmax(logits, -1).numpy(),
                DecoderState(*(part.numpy() for part in new)), weights.numpy())

    return (step, Memory(memory.states.numpy(), lengths.numpy()),
            DecoderState(*(part.numpy() for part in state)))


@torch.no_grad()
@pytest.mark.parametrize("seed", [0, 1])
def test_greedy_and_beam_search_in_numpy_give_seq2seqs_tokens(seed):
    model = _seq2seq(seed)
    source = torch.tensor([[4, 5, 6, 7], [8, 9, 0, 0], [10, 0, 0, 0]])
    lengths = torch.tensor([4, 2, 1])
    step, memory, state = _numpy_decoder(model, source, lengths)
    config = model.config
    assert greedy(step, memory, state, 6, config.bos_id, config.eos_id) == \
        model.greedy(source, lengths, 6)
    for width, penalty in ((1, 1.0), (3, 1.0), (4, 0.0)):
        expected = model.beam_search(source, lengths, 6, width, penalty)
        got = beam_search(step, memory, state, 6, width, penalty, config.bos_id,
                          config.eos_id, config.pad_id)
        assert got == expected, (width, penalty)


@pytest.mark.parametrize("settings", [
    {"temperature": 0.7}, {"top_k": 3}, {"top_p": 0.6}, {"banned_ids": (0, 2)},
    {"top_k": 4, "top_p": 0.9, "temperature": 1.3, "banned_ids": (1,)}])
def test_the_numpy_filters_keep_the_tokens_torch_keeps(settings):
    torch.manual_seed(0)
    logits = torch.randn(3, 10)
    config = SamplingConfig(**settings)
    expected = torch_sampling.filter_logits(logits.clone(), config).numpy()
    got = filter_logits(logits.numpy(), config)
    np.testing.assert_array_equal(np.isinf(got), np.isinf(expected))
    np.testing.assert_allclose(got[~np.isinf(got)], expected[~np.isinf(expected)], rtol=1e-6)


def test_greedy_takes_the_argmax_and_a_seeded_draw_repeats_and_stays_in_the_kept_set():
    logits = np.random.default_rng(0).normal(size=(2, 10)).astype(np.float32)
    greedy_config = SamplingConfig(greedy=True, banned_ids=(int(logits[0].argmax()),))
    expected = torch_sampling.next_tokens(torch.from_numpy(logits), greedy_config).numpy()
    np.testing.assert_array_equal(next_tokens(logits, greedy_config, None), expected)
    config = SamplingConfig(top_k=2)
    draws = [next_tokens(logits, config, np.random.default_rng(5)) for _ in range(2)]
    np.testing.assert_array_equal(draws[0], draws[1])
    top_two = np.argsort(-logits, axis=1)[:, :2]
    for _ in range(20):
        token = next_tokens(logits, config, np.random.default_rng())
        assert all(token[row] in top_two[row] for row in range(2))

"""Length-grouped batches: a seeded permutation per epoch that puts pairs of similar length together."""

import random

import pytest

from _mpo_data import train_args, write_pairs
from mmpo.data.pairs import load_pairs
from mmpo.train.collate import PairDataset
from mmpo.train.length_groups import LengthGroupedSampler, grouped_order, pair_lengths


def _skewed(n=1000, seed=0):
    # Most pairs short, a long tail: the case where random batches waste the most on padding.
    rng = random.Random(seed)
    return [rng.randint(20, 60) if rng.random() < 0.8 else rng.randint(300, 2000) for _ in range(n)]


def _padding(order, lengths, batch):
    batches = [order[i:i + batch] for i in range(0, len(order), batch)]
    return sum(max(lengths[i] for i in b) * len(b) - sum(lengths[i] for i in b) for b in batches)


@pytest.mark.parametrize("n, batch", [(1000, 8), (997, 8), (5, 8), (1, 1), (0, 4), (64, 1)])
def test_is_a_permutation(n, batch):
    lengths = _skewed(n)
    for epoch in range(3):
        assert sorted(grouped_order(lengths, batch, seed=1, epoch=epoch)) == list(range(n))


def test_deterministic_for_a_seed_and_random_across_seeds_and_epochs():
    lengths = _skewed()
    a = grouped_order(lengths, 8, seed=3, epoch=0)
    assert a == grouped_order(lengths, 8, seed=3, epoch=0)
    assert a != grouped_order(lengths, 8, seed=4, epoch=0)
    assert a != grouped_order(lengths, 8, seed=3, epoch=1)
    sampler = LengthGroupedSampler(lengths, 8, seed=3)
    assert list(sampler) == a and len(sampler) == len(lengths)
    sampler.set_epoch(1)
    assert list(sampler) == grouped_order(lengths, 8, seed=3, epoch=1)


def test_reduces_padding_on_a_skewed_dataset():
    lengths, batch = _skewed(), 8
    grouped = _padding(grouped_order(lengths, batch, seed=0), lengths, batch)
    shuffled = list(range(len(lengths)))
    random.Random(0).shuffle(shuffled)
    plain = _padding(shuffled, lengths, batch)
    assert grouped < 0.2 * plain, (grouped, plain)


def test_steps_stay_in_random_length_order_and_the_short_batch_is_last():
    lengths, batch = list(range(1000)), 10  # 1000 distinct lengths
    order = grouped_order(lengths + [5000] * 3, batch, seed=0)
    batches = [order[i:i + batch] for i in range(0, len(order), batch)]
    assert len(batches[-1]) == 3 and all(len(b) == batch for b in batches[:-1])
    maxima = [max(lengths[i] if i < 1000 else 5000 for i in b) for b in batches[:-1]]
    # Not sorted long-to-short or short-to-long across the epoch: the batch order is shuffled.
    assert maxima != sorted(maxima) and maxima != sorted(maxima, reverse=True)
    # Within a batch, lengths are close (one mega-batch of 50 x 10 pairs spans ~half the range).
    assert max(max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches[:-1] if max(b) < 1000) < 60


def test_same_steps_for_any_accumulation_split():
    # The sampler groups whole optimizer steps, so 1 x 8 and 8 x 1 see the same pairs per step.
    lengths = _skewed(100)
    order = grouped_order(lengths, 8, seed=0)
    steps = [set(order[i:i + 8]) for i in range(0, 96, 8)]
    assert all(len(s) == 8 for s in steps)


def test_trainer_uses_it_by_default_and_lengths_count_tokens(tiny_model, tmp_path):
    from mmpo.train.trainer import MPOTrainer

    data = write_pairs(tmp_path / "d", n=8)
    model, processor = tiny_model("llava")
    dataset = PairDataset(load_pairs(data))
    lengths = pair_lengths(dataset, processor)
    tok = processor.tokenizer
    p = dataset[5]
    want = sum(len(tok(t, add_special_tokens=False)["input_ids"])
               for t in (p.messages[0]["content"][1]["text"], p.chosen, p.rejected))
    assert lengths[5] == want and len(set(lengths)) > 1
    trainer = MPOTrainer(model, train_args(tmp_path / "o", gradient_accumulation_steps=2),
                         train_dataset=dataset, processing_class=processor)
    sampler = trainer._get_train_sampler()
    assert isinstance(sampler, LengthGroupedSampler) and sampler.batch == 4 and sampler.lengths == lengths
    random_trainer = MPOTrainer(tiny_model("llava")[0], train_args(tmp_path / "r", train_sampling_strategy="random"),
                                train_dataset=dataset, processing_class=processor)
    assert not isinstance(random_trainer._get_train_sampler(), LengthGroupedSampler)

"""postmast counts, detects and refuses exactly as each network's own code does.

For each network: every input of the kept file of disagreements ever found
(`disagreements/NETWORK.jsonl`), then 1,000 texts generated from a fresh seed
(`generator.py`), answered by the network's reference code under Node (`oracles/`) and by
postmast (`product.py`). 100% agreement or the test fails, naming the seed.

Rerun a failure with `POSTMAST_DIFFERENTIAL_SEED=N`; keep what it found with
`python -m tests.differential --seed N --keep NETWORK` (then fix postmast).
"""

from __future__ import annotations

import os
import random

import pytest

from tests.differential import oracle
from tests.differential.run import Disagreement, disagreements, generated, kept

COUNT = int(os.environ.get("POSTMAST_DIFFERENTIAL_COUNT", "1000"))


@pytest.fixture(scope="module")
def seed() -> int:
    given = os.environ.get("POSTMAST_DIFFERENTIAL_SEED")
    return int(given) if given else random.SystemRandom().randrange(2**32)


def explain(network: str, seed: int, found: list[Disagreement], total: int) -> str:
    shown = "\n".join("  " + d.line()[:600] for d in found[:10])
    return (
        f"{network}: postmast disagrees with the reference on {len(found)} of {total} inputs "
        f"(seed {seed}; rerun with POSTMAST_DIFFERENTIAL_SEED={seed}, keep them with "
        f"`python -m tests.differential --seed {seed} --keep {network}`):\n{shown}"
    )


@pytest.mark.parametrize("network", oracle.NETWORKS)
def test_postmast_agrees_with_the_networks_own_code(network: str, seed: int) -> None:
    known = kept(network)
    assert len(known) >= 10, "the kept disagreements are part of every run"
    inputs = known + generated(network, seed, COUNT)
    assert len(inputs) >= COUNT + len(known)
    found = disagreements(network, inputs)
    assert not found, explain(network, seed, found, len(inputs))


def test_the_generator_is_adversarial_and_repeatable() -> None:
    texts = generated("x", 7, 1000)
    assert texts == generated("x", 7, 1000) and texts != generated("x", 8, 1000)
    joined = "".join(texts)
    for needle in ("\u200d", "\U0001f3fd", "\U0001f1e9", "\u20e3", "\ufe0f", "\r\n", "\u2028", "\ufeff",
                   "\u00a0", "e\u0301", "\u05e9", "\u200f", "\ud55c", "\u65e5", "https://", "HTTPS://",
                   "xn--", "#", "@", "$", "w" * 300):  # fmt: skip
        assert needle in joined, needle
    assert any(len(t) > 250 for t in texts) and any(len(t) < 20 for t in texts)
    pairs = generated("mastodon", 7, 100)
    assert all(isinstance(p, list) and len(p) == 2 for p in pairs) and any(p[1] for p in pairs)


def test_a_disagreement_fails_with_its_seed() -> None:
    wrong = [Disagreement("a\r\nb", {"weightedLength": 4}, {"weightedLength": 3})]
    message = explain("x", 42, wrong, 1001)
    assert "1 of 1001" in message and "POSTMAST_DIFFERENTIAL_SEED=42" in message and "a\\r\\nb" in message

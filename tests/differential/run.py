"""One differential run: inputs (the kept disagreements, then generated ones), the reference's
results and postmast's, and every input on which they differ."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.differential import generator, oracle, product

HERE = Path(__file__).resolve().parent
LIMITS = {"x": (280,), "bluesky": (300,), "mastodon": (500,)}


@dataclass(frozen=True)
class Disagreement:
    input: Any
    reference: dict[str, Any]
    postmast: dict[str, Any]

    def line(self) -> str:
        return json.dumps({"input": self.input, "reference": self.reference, "postmast": self.postmast})


def kept_path(network: str) -> Path:
    return HERE / "disagreements" / f"{network}.jsonl"


def kept(network: str) -> list[Any]:
    """Every input on which postmast and the reference ever disagreed (kept in the repository)."""
    lines = kept_path(network).read_text("utf-8").splitlines()
    return [json.loads(line)["input"] for line in lines if line.strip()]


def generated(network: str, seed: int, count: int) -> list[Any]:
    texts = generator.texts(seed, count, LIMITS[network])
    if network != "mastodon":
        return list(texts)
    rng = random.Random(seed + 1)  # a content warning on one post in five
    return [[text, generator.text(rng, (20,)) if rng.random() < 0.2 else ""] for text in texts]


def disagreements(network: str, inputs: list[Any]) -> list[Disagreement]:
    reference = oracle.run(network, inputs)
    answer, keys = product.ANSWER[network], product.COMPARED[network]
    found = []
    for item, theirs in zip(inputs, reference, strict=True):
        ours = answer(item)
        if any(ours[k] != theirs[k] for k in keys):
            found.append(Disagreement(item, {k: theirs[k] for k in keys}, {k: ours[k] for k in keys}))
    return found

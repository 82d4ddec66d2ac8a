"""`python -m tests.differential [--seed N] [--count N] [--keep] [NETWORK...]`: measure agreement
with the networks' own code on generated texts; `--keep` appends new disagreements to the kept
files (`tests/differential/disagreements/NETWORK.jsonl`)."""

from __future__ import annotations

import argparse
import random

from tests.differential import oracle
from tests.differential.run import disagreements, generated, kept, kept_path


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.differential")
    parser.add_argument("networks", nargs="*", default=list(oracle.NETWORKS))
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--keep", action="store_true", help="append new disagreements to the kept files")
    parser.add_argument("--show", type=int, default=0, help="print this many disagreements")
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)
    for network in args.networks:
        inputs = generated(network, seed, args.count)
        found = disagreements(network, inputs)
        agreed = len(inputs) - len(found)
        print(f"{network}: {agreed}/{len(inputs)} agree ({100 * agreed / len(inputs):.1f}%), seed {seed}")
        for item in found[: args.show]:
            print("  " + item.line()[:400])
        if args.keep and found:
            known = {repr(i) for i in kept(network)}
            new = [d for d in found if repr(d.input) not in known]
            with kept_path(network).open("a", encoding="utf-8") as handle:
                handle.writelines(d.line() + "\n" for d in new)
            print(f"  kept {len(new)} new disagreements in {kept_path(network)}")


if __name__ == "__main__":
    main()

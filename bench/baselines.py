"""The course's mining tools, run as the course runs them: `python -m bench.baselines TOOL ...`.

Prints one JSON line: itemsets, rules, mine_seconds. Loading uses pandas, as the course's
notebooks do; mining is timed separately so both can be compared.
"""

from __future__ import annotations

import json
import sys
import time

import pandas as pd


def baskets(path: str) -> list[list[str]]:
    frame = pd.read_csv(path, usecols=["pid", "track_name"], dtype=str)
    return [sorted(set(group)) for _, group in frame.groupby("pid")["track_name"]]


def run_fpgrowth_py(data: list[list[str]], support: float, confidence: float) -> tuple[int, int]:
    from fpgrowth_py import fpgrowth

    result = fpgrowth(data, minSupRatio=support, minConf=confidence)
    if result is None:
        return 0, 0
    itemsets, rules = result
    return len(itemsets), len(rules)


def run_mlxtend(
    data: list[list[str]], support: float, confidence: float, max_len: int | None
) -> tuple[int, int]:
    from mlxtend.frequent_patterns import association_rules, fpgrowth
    from mlxtend.preprocessing import TransactionEncoder

    encoder = TransactionEncoder()
    onehot = pd.DataFrame(encoder.fit(data).transform(data), columns=encoder.columns_)
    itemsets = fpgrowth(onehot, min_support=support, use_colnames=True, max_len=max_len)
    if itemsets.empty:
        return 0, 0
    rules = association_rules(
        itemsets, num_itemsets=len(data), metric="confidence", min_threshold=confidence
    )
    return len(itemsets), len(rules)


def main() -> None:
    tool, path, support, confidence = (
        sys.argv[1],
        sys.argv[2],
        float(sys.argv[3]),
        float(sys.argv[4]),
    )
    max_len = int(sys.argv[5]) if len(sys.argv) > 5 and sys.argv[5] != "none" else None
    data = baskets(path)
    started = time.perf_counter()
    if tool == "fpgrowth-py":
        itemsets, rules = run_fpgrowth_py(data, support, confidence)
    else:
        itemsets, rules = run_mlxtend(data, support, confidence, max_len)
    seconds = time.perf_counter() - started
    print(json.dumps({"itemsets": itemsets, "rules": rules, "mine_seconds": seconds}))


if __name__ == "__main__":
    main()

"""Expected zero counts for the scheduled-pruning tests, from PyTorch's own rounding.

For each schedule case: the target sparsity at each pruning point (NNI's AGP formula, or linear) and, per tensor size,
the number of entries PyTorch prunes for that sparsity: torch.nn.utils.prune._compute_nparams_toprune(s, n), i.e.
round(s * n) half to even. Pruning with l1_unstructured by the difference as a count then gives exactly that many zeros,
which the script checks on random tensors. Run with Debian's python3-torch 1.13:
    /usr/bin/python3 make_schedule_fixtures.py > schedule_fixtures.json
"""
import json

import torch
from torch.nn.utils import prune


def sparsity(shape, s_i, s_f, start, end, t):
    if t < start:
        return 0.0
    if t >= end:
        return s_f
    p = (t - start) / (end - start)
    if shape == "agp":
        return s_f + (s_i - s_f) * (1 - p) ** 3
    return s_i + (s_f - s_i) * p


def points(start, end, freq):
    return [t for t in range(start, end + 1) if (t - start) % freq == 0 or t == end]


CASES = [
    # SmallNet(4, 3): fc1.weight 64, fc1.bias 16, fc2.weight 48 entries.
    dict(name="agp_steps", shape="agp", s_i=0.0, s_f=0.8, start=1, end=7, freq=2, sizes=[64, 16, 48]),
    # Sparsities that are k/32, so s * n lands on .5 for 16 and 48 entries: half to even decides.
    dict(name="linear_ties", shape="linear", s_i=0.15625, s_f=0.90625, start=0, end=3, freq=1, sizes=[64, 16, 48]),
]

out = {}
torch.manual_seed(0)
for case in CASES:
    pts = points(case["start"], case["end"], case["freq"])
    sps = [sparsity(case["shape"], case["s_i"], case["s_f"], case["start"], case["end"], t) for t in pts]
    counts = []
    for n in case["sizes"]:
        lin = torch.nn.Linear(n, 1, bias=False)
        prune.identity(lin, "weight")
        per = []
        for s in sps:
            target = prune._compute_nparams_toprune(s, n)
            pruned = int((lin.weight_mask == 0).sum())
            if target > pruned:
                prune.l1_unstructured(lin, "weight", amount=target - pruned)
            zeros = int((lin.weight_mask == 0).sum())
            assert zeros == target, (zeros, target)
            per.append(zeros)
        counts.append(per)
    # Global: one count over all entries together.
    total = sum(case["sizes"])
    global_counts = [prune._compute_nparams_toprune(s, total) for s in sps]
    out[case["name"]] = dict(case, points=pts, sparsities=sps, zeros=counts, global_zeros=global_counts)

print(json.dumps(out, indent=1))

#!/usr/bin/env python3
"""Writes sensitivity_pruners.json: NNI v2.10's metrics for the sensitivity pruners on one seeded conv weight, computed by
PyTorch with NNI's formulas (NormMetricsCalculator p=2 per output channel for L2NormPruner; DistMetricsCalculator p=2 for
FPGMPruner: metric[i] = sum_j ||w_j - w_i||_2; LevelPruner: |w|), and what each prunes at the sparsities below: the
int(n * s) smallest (NNI's NormalSparsityAllocator keeps topk(metric, n - int(n * s))).

Run with Debian's python3-torch: /usr/bin/python3 sensitivity_pruners.py > sensitivity_pruners.json
"""
import json
import sys
import torch

torch.manual_seed(3)
w = torch.randn(12, 3, 3, 3)
rows = w.reshape(12, -1)
l2 = rows.norm(p=2, dim=-1)
fpgm = torch.stack([(rows - rows[i]).norm(p=2, dim=-1).sum() for i in range(12)])
out = {'weight': [float(v) for v in w.reshape(-1).tolist()], 'shape': list(w.shape),
       'l2': [float(v) for v in l2.tolist()], 'fpgm': [float(v) for v in fpgm.tolist()], 'cases': []}
for s in (0.25, 0.5, 0.75):
    case = {'sparsity': s}
    for name, metric in (('l2', l2), ('fpgm', fpgm)):
        n = metric.numel()
        kept = set(torch.topk(metric, n - int(n * s)).indices.tolist())
        case[name] = sorted(set(range(n)) - kept)
    flat = w.abs().reshape(-1)
    n = flat.numel()
    kept = torch.zeros(n, dtype=torch.bool)
    kept[torch.topk(flat, n - int(n * s)).indices] = True
    case['level_zeroed'] = sorted((~kept).nonzero().reshape(-1).tolist())
    out['cases'].append(case)
json.dump(out, sys.stdout)

"""Writes prune_fixtures.json: masks and values from torch.nn.utils.prune (Debian's python3-torch 1.13) for the
TorchPrune parity tests. Run: /usr/bin/python3 make_prune_fixtures.py (from this folder)."""
import json
import math

import torch
import torch.nn as nn
import torch.nn.utils.prune as prune


def pattern(count, values, stride=7):
    """A deterministic tie-heavy sequence (no generator involved)."""
    return [float(values[(i * stride) % len(values)]) for i in range(count)]


def make_module(spec):
    shape = spec["shape"]
    if spec["type"] == "linear":
        m = nn.Linear(shape[1], shape[0])
    else:
        m = nn.Conv2d(shape[1], shape[0], (shape[2], shape[3]))
    with torch.no_grad():
        m.weight.copy_(torch.tensor(spec["weight"], dtype=torch.float32).view(shape))
    return m


def amount(a):
    return a["count"] if "count" in a else a["fraction"]


def norm(n):
    return float(n) if not isinstance(n, str) else (math.inf if n == "inf" else -math.inf)


def run_case(case):
    modules = [make_module(s) for s in case["modules"]]
    masks, weights = [], []
    for step in case["steps"]:
        if "seed" in step:
            torch.manual_seed(step["seed"])
        op = step["op"]
        imp = step.get("importance")
        if op == "global_unstructured":
            targets = [(modules[i], "weight") for i in step["targets"]]
            scores = None
            if imp is not None:
                scores = {(modules[int(k)], "weight"): torch.tensor(v, dtype=torch.float32).view(modules[int(k)].weight.shape) for k, v in imp.items()}
            method = prune.L1Unstructured if step["method"] == "l1" else prune.RandomUnstructured
            prune.global_unstructured(targets, pruning_method=method, importance_scores=scores, amount=amount(step["amount"]))
        else:
            m = modules[step["target"]]
            shape = m.weight.shape
            scores = torch.tensor(imp, dtype=torch.float32).view(shape) if imp is not None else None
            if op == "l1_unstructured":
                prune.l1_unstructured(m, "weight", amount(step["amount"]), importance_scores=scores)
            elif op == "random_unstructured":
                prune.random_unstructured(m, "weight", amount(step["amount"]))
            elif op == "ln_structured":
                prune.ln_structured(m, "weight", amount(step["amount"]), norm(step["n"]), step["dim"], importance_scores=scores)
            elif op == "random_structured":
                prune.random_structured(m, "weight", amount(step["amount"]), step["dim"])
            elif op == "custom_from_mask":
                prune.custom_from_mask(m, "weight", torch.tensor(step["mask"], dtype=torch.float32).view(shape))
            elif op == "identity":
                prune.identity(m, "weight")
            else:
                raise ValueError(op)
        masks.append([m.weight_mask.flatten().tolist() if hasattr(m, "weight_mask") else None for m in modules])
        weights.append([m.weight.detach().flatten().tolist() for m in modules])
    case["masks"] = masks
    case["weights"] = weights
    return case


def linear(rows, cols, weight):
    return {"type": "linear", "shape": [rows, cols], "weight": weight}


def conv(o, i, kh, kw, weight):
    return {"type": "conv2d", "shape": [o, i, kh, kw], "weight": weight}


CONV_4x3 = pattern(48, [1, -2, 0.5, 2, -1, 3, 1, -0.5, 2, 1, -3])
CASES = [
    {"name": "l1 count then fraction of what remains, ties", "modules": [linear(3, 4, [1, -1, 2, 1, 0.5, -2, 1, -0.5, 1, 2, -1, 0.5])],
     "steps": [{"op": "l1_unstructured", "target": 0, "amount": {"count": 5}},
               {"op": "l1_unstructured", "target": 0, "amount": {"fraction": 0.5}},
               {"op": "ln_structured", "target": 0, "amount": {"count": 1}, "n": 2, "dim": 0}]},
    {"name": "fraction rounds half to even", "modules": [linear(2, 5, [5, 4, 3, 2, 1, -1, -2, -3, -4, -6]), linear(2, 5, [5, 4, 3, 2, 1, -1, -2, -3, -4, -6])],
     "steps": [{"op": "l1_unstructured", "target": 0, "amount": {"fraction": 0.25}},
               {"op": "l1_unstructured", "target": 1, "amount": {"fraction": 0.35}}]},
    {"name": "ln norms p=1,2,3.5,inf,-inf on conv dims", "modules": [conv(4, 3, 2, 2, CONV_4x3) for _ in range(5)],
     "steps": [{"op": "ln_structured", "target": 0, "amount": {"count": 2}, "n": 1, "dim": 0},
               {"op": "ln_structured", "target": 1, "amount": {"fraction": 0.34}, "n": 2, "dim": 1},
               {"op": "ln_structured", "target": 2, "amount": {"count": 1}, "n": 3.5, "dim": -1},
               {"op": "ln_structured", "target": 3, "amount": {"count": 2}, "n": "inf", "dim": 0},
               {"op": "ln_structured", "target": 4, "amount": {"count": 1}, "n": "-inf", "dim": 2}]},
    {"name": "structured skips removed channels, unstructured after", "modules": [conv(4, 3, 2, 2, CONV_4x3)],
     "steps": [{"op": "ln_structured", "target": 0, "amount": {"count": 1}, "n": 2, "dim": 0},
               {"op": "ln_structured", "target": 0, "amount": {"fraction": 0.5}, "n": 1, "dim": 0},
               {"op": "l1_unstructured", "target": 0, "amount": {"fraction": 0.25}},
               {"op": "ln_structured", "target": 0, "amount": {"count": 1}, "n": "inf", "dim": 1}]},
    {"name": "importance scores", "modules": [linear(2, 4, [1, 2, 3, 4, -4, -3, -2, -1]), conv(1, 3, 2, 2, [1, 2, 1, 2.5, 0.5, 1, 0.1, 0.1, -3, -5, 0.1, -1])],
     "steps": [{"op": "l1_unstructured", "target": 0, "amount": {"count": 2}, "importance": [4, 2, 1, 3, -3, -1, -2, -4]},
               {"op": "l1_unstructured", "target": 0, "amount": {"count": 2}, "importance": [4, 2, 1, 3, -3, -1, -2, -4]},
               {"op": "ln_structured", "target": 1, "amount": {"count": 1}, "n": 2, "dim": 1, "importance": [10, 1, 10, 1, 30, 3, 30, 3, -20, -2, -20, -2]},
               {"op": "ln_structured", "target": 1, "amount": {"count": 1}, "n": 1, "dim": -1, "importance": [10, 1, 10, 1, 30, 3, 30, 3, -20, -2, -20, -2]}]},
    {"name": "global across two layers", "modules": [linear(2, 4, [1, 2, 3, 4, -4, -3, -2, -1]), linear(1, 3, [0, 0.1, -2])],
     "steps": [{"op": "global_unstructured", "method": "l1", "targets": [0, 1], "amount": {"count": 4}},
               {"op": "global_unstructured", "method": "l1", "targets": [0, 1], "amount": {"fraction": 0.5}}]},
    {"name": "global with importance scores", "modules": [linear(2, 4, [1, 2, 3, 4, -4, -3, -2, -1]), linear(1, 3, [0, 0.1, -2])],
     "steps": [{"op": "global_unstructured", "method": "l1", "targets": [0, 1], "amount": {"count": 4},
                "importance": {"0": [4, 2, 1, 3, -3, -1, -2, -4], "1": [0, 10.0, -0.2]}}]},
    {"name": "global ties on bigger layers", "modules": [linear(8, 16, pattern(128, [2, -1, 0, 1, -2])), conv(6, 4, 3, 3, pattern(216, [1, -1, 2, 0.5, -2], 3))],
     "steps": [{"op": "global_unstructured", "method": "l1", "targets": [0, 1], "amount": {"fraction": 0.3}},
               {"op": "l1_unstructured", "target": 0, "amount": {"fraction": 0.4}}]},
    {"name": "l1 ties on a larger conv", "modules": [conv(16, 8, 3, 3, pattern(1152, [1, -1, 2, -2, 0.5, 3], 5))],
     "steps": [{"op": "l1_unstructured", "target": 0, "amount": {"fraction": 0.3}},
               {"op": "ln_structured", "target": 0, "amount": {"fraction": 0.25}, "n": 1, "dim": 0}]},
    {"name": "custom mask on top of pruning, identity", "modules": [linear(2, 4, [1, 2, 3, 4, -4, -3, -2, -1])],
     "steps": [{"op": "identity", "target": 0},
               {"op": "l1_unstructured", "target": 0, "amount": {"count": 2}},
               {"op": "custom_from_mask", "target": 0, "mask": [0, 1, 1, 0, 0, 0, 1, 1]}]},
    {"name": "random methods with a seeded generator", "modules": [linear(5, 6, pattern(30, [1, 2, 3, 4, 5, 6, 7])), conv(4, 3, 2, 2, CONV_4x3)],
     "steps": [{"op": "random_unstructured", "target": 0, "amount": {"fraction": 0.3}, "seed": 0},
               {"op": "random_unstructured", "target": 0, "amount": {"count": 5}, "seed": 1},
               {"op": "random_structured", "target": 1, "amount": {"fraction": 0.5}, "dim": 1, "seed": 2},
               {"op": "random_structured", "target": 1, "amount": {"count": 1}, "dim": 0, "seed": 3},
               {"op": "global_unstructured", "method": "random", "targets": [0, 1], "amount": {"count": 6}, "seed": 4}]},
]


def container_cases():
    """PyTorch's PruningContainer.compute_mask on a given tensor and prior mask (the test file's own example)."""
    t = torch.tensor([[1, 2, 3, 4], [5, 6, 7, 8]], dtype=torch.float32)
    default = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 1]])
    container = prune.PruningContainer()
    container._tensor_name = "test"
    out = []
    for spec in [{"op": "l1_unstructured", "amount": {"count": 2}},
                 {"op": "ln_structured", "amount": {"count": 1}, "n": 2, "dim": 0},
                 {"op": "ln_structured", "amount": {"count": 1}, "n": 2, "dim": 1}]:
        method = prune.L1Unstructured(amount(spec["amount"])) if spec["op"] == "l1_unstructured" \
            else prune.LnStructured(amount(spec["amount"]), n=spec["n"], dim=spec["dim"])
        method._tensor_name = "test"
        container.add_pruning_method(method)
        spec["mask"] = container.compute_mask(t, default).flatten().tolist()
        out.append(spec)
    return {"shape": [2, 4], "t": t.flatten().tolist(), "default_mask": default.flatten().tolist(), "steps": out}


def gradient_case():
    """Forward, backward and one SGD step through a pruned Linear(5, 2) with a given mask."""
    torch.manual_seed(0)
    m = nn.Linear(5, 2)
    with torch.no_grad():
        m.weight.copy_(torch.tensor([[0.1, -0.2, 0.3, -0.4, 0.5], [0.6, -0.7, 0.8, -0.9, 1.0]]))
        m.bias.copy_(torch.tensor([0.25, -0.5]))
    mask = torch.ones(2, 5)
    mask[1, 0] = 0
    mask[0, 3] = 0
    prune.custom_from_mask(m, "weight", mask)
    opt = torch.optim.SGD(m.parameters(), lr=1.0)
    x = torch.tensor([[1.0, 2.0, -1.0, 0.5, 3.0]])
    y = m(x)
    loss = (y * torch.tensor([[1.0, -2.0]])).sum()
    loss.backward()
    grad = m.weight_orig.grad.flatten().tolist()
    opt.step()
    y2 = m(x)
    return {"weight": [0.1, -0.2, 0.3, -0.4, 0.5, 0.6, -0.7, 0.8, -0.9, 1.0], "bias": [0.25, -0.5], "mask": mask.flatten().tolist(),
            "input": x.flatten().tolist(), "loss_weights": [1.0, -2.0], "output": y.detach().flatten().tolist(),
            "orig_grad": grad, "orig_after_step": m.weight_orig.detach().flatten().tolist(),
            "weight_after_step": m.weight.detach().flatten().tolist(), "output_after_step": y2.detach().flatten().tolist(),
            "parameter_names": [n for n, _ in m.named_parameters()], "buffer_names": [n for n, _ in m.named_buffers()]}


def state_dict_case():
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Conv2d(1, 2, 1))
    before = list(model.state_dict().keys())
    prune.l1_unstructured(model[0], "weight", 0.5)
    prune.ln_structured(model[2], "weight", 1, 2, 0)
    pruned = list(model.state_dict().keys())
    prune.remove(model[0], "weight")
    removed = list(model.state_dict().keys())
    return {"before": before, "pruned": pruned, "after_remove_0": removed}


def rounding_cases():
    return [{"fraction": f, "size": s, "to_prune": round(f * s)} for f, s in
            [(0.25, 10), (0.35, 10), (0.5, 5), (0.5, 7), (0.125, 4), (0.4, 17), (1.0, 15), (0.0, 9), (0.3, 0), (0.15, 10), (0.05, 50)]]


def main():
    fixtures = {"torch_version": torch.__version__, "cases": [run_case(c) for c in CASES], "container": container_cases(),
                "gradient": gradient_case(), "state_dict": state_dict_case(), "rounding": rounding_cases()}
    with open("prune_fixtures.json", "w") as f:
        json.dump(fixtures, f, separators=(",", ":"))


if __name__ == "__main__":
    main()

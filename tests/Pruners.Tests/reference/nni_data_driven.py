#!/usr/bin/env python3
"""Writes nni_data_driven.json: the metrics and masks of NNI v2.10's data-driven pruners (SlimPruner,
ActivationAPoZRankPruner, ActivationMeanRankPruner, TaylorFOWeightPruner) on a small fixed model trained on fixed batches,
computed with NNI's formulas written out below (NNI itself is not needed):

  - training: the evaluator's loop, here plain SGD (lr LR, no momentum) on cross-entropy, one step per batch, batches
    taken in order and repeated;
  - apoz: ActivationPruner._collector with ActivationAPoZRankPruner._activation_trans, a forward hook on each selected
    layer: buffer += eq(relu(output), 0).sum(batch dims), count += batch size, while count-of-batches < STEPS (this port counts
    batches; NNI v2.10 compares samples with training_steps); metric = 1 - mean over a channel's positions of buffer / count
    (APoZRankMetricsCalculator with Scaling([1], 'back'));
  - mean-activation: the same with relu(output).sum(batch dims) and metric = mean(buffer / count) (MeanRankMetricsCalculator);
  - taylor-fo: TaylorFOWeightPruner._collector, a hook on each weight's gradient: buffer += (w * g)^2 for the first STEPS
    steps; metric = L1 norm of each output channel's buffer (HookDataNormMetricsCalculator, p = 1);
  - slim: loss + SCALE * sum of |gamma| of the selected BatchNorm2d weights (SlimPruner.loss_patch) for the epochs, then
    metric = |gamma| (NormMetricsCalculator over single elements); masks by GlobalSparsityAllocator;
  - masks in mode normal (of the two convs; fc's APoZ over 4 samples ties): NormalSparsityAllocator, keep the topk(metric, n - int(sparsity * n)) channels.

Run with Debian's python3-torch: /usr/bin/python3 nni_data_driven.py > nni_data_driven.json
"""
import json
import torch
import torch.nn as nn
import torch.nn.functional as F

SEED, LR, STEPS, SCALE, SPARSITY, SLIM_TOTAL = 7, 0.1, 3, 0.05, 0.5, 0.5


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(16)
        self.relu2 = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flat = nn.Flatten()
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        x = self.relu1(self.bn1(self.conv1(x)))
        x = self.relu2(self.bn2(self.conv2(x)))
        return self.fc(self.flat(self.pool(x)))


def build():
    torch.manual_seed(SEED)
    net = Net()
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    batches = [(torch.randn(4, 3, 8, 8), torch.randint(0, 10, (4,))) for _ in range(3)]
    return net, batches


def load(net, state):
    net.load_state_dict({k: v.clone() for k, v in state.items()})


def train(net, batches, steps, extra_loss=None, on_grad=None):
    opt = torch.optim.SGD(net.parameters(), lr=LR)
    net.train()
    for step in range(steps):
        x, y = batches[step % len(batches)]
        loss = F.cross_entropy(net(x), y)
        if extra_loss is not None:
            loss = loss + extra_loss()
        opt.zero_grad()
        loss.backward()
        if on_grad is not None:
            on_grad(step)
        opt.step()


def keep_normal(metric, sparsity):
    n = metric.numel()
    kept = n - int(sparsity * n)
    values, _ = metric.sort(descending=True)
    assert kept == n or values[kept - 1] != values[kept], 'tie at the cut'
    return sorted(torch.topk(metric, kept).indices.tolist())


def activation_metrics(net, batches, layers, apoz):
    buffers, counts, seen, hooks = {}, {}, {}, []
    for name in layers:
        module = dict(net.named_modules())[name]
        counts[name], seen[name] = 0, 0

        def hook(_m, _i, output, name=name):
            if seen[name] >= STEPS:
                return
            act = F.relu(output.detach())
            term = torch.eq(act, torch.zeros_like(output)).type_as(output).sum(0) if apoz else act.sum(0)
            buffers[name] = buffers[name] + term if name in buffers else term
            counts[name] += output.shape[0]
            seen[name] += 1
        hooks.append(module.register_forward_hook(hook))
    train(net, batches, STEPS)
    for h in hooks:
        h.remove()
    out = {}
    for name in layers:
        data = buffers[name] / counts[name]
        per_channel = data.reshape(data.shape[0], -1).mean(-1)
        out[name] = (1 - per_channel) if apoz else per_channel
    return out


def taylor_metrics(net, batches, layers):
    modules = dict(net.named_modules())
    buffers = {}

    def on_grad(step):
        if step >= STEPS:
            return
        for name in layers:
            w = modules[name].weight
            term = (w.detach() * w.grad.detach()).pow(2)
            buffers[name] = buffers[name] + term if name in buffers else term
    train(net, batches, STEPS, on_grad=on_grad)
    return {name: buffers[name].reshape(buffers[name].shape[0], -1).norm(p=1, dim=-1) for name in layers}


def global_keep(metrics, numel, total):
    # GlobalSparsityAllocator with max_sparsity_per_layer 0.99 (no layer near it here).
    flat = torch.cat([m.reshape(-1).repeat_interleave(numel[k] // m.numel()) for k, m in metrics.items()])
    threshold = torch.topk(flat, int(total * flat.numel()), largest=False)[0].max()
    assert (flat == threshold).sum() == 1, 'tie at the global threshold'
    return {k: [i for i, v in enumerate(m.tolist()) if v > threshold] for k, m in metrics.items()}


def floats(t):
    return [float(v) for v in t.reshape(-1).tolist()]


def main():
    net, batches = build()
    state = {k: v.clone() for k, v in net.state_dict().items()}
    layers = ['conv1', 'conv2', 'fc']
    convs = ['conv1', 'conv2']  # masks: the config list [{"op_types": ["Conv2d"], "sparsity_per_layer": SPARSITY}]
    result = {
        'lr': LR, 'steps': STEPS, 'scale': SCALE, 'sparsity': SPARSITY, 'slim_total_sparsity': SLIM_TOTAL,
        'state': {k: {'shape': list(v.shape), 'values': floats(v)} for k, v in state.items() if v.dtype == torch.float32},
        'batches': [{'x': floats(x), 'y': y.tolist()} for x, y in batches],
    }
    for key, apoz in (('apoz', True), ('mean_activation', False)):
        load(net, state)
        metrics = activation_metrics(net, batches, layers, apoz)
        result[key] = {name: {'metric': floats(m), 'kept': keep_normal(m, SPARSITY) if name in convs else None}
                       for name, m in metrics.items()}
    load(net, state)
    metrics = taylor_metrics(net, batches, layers)
    result['taylor_fo'] = {name: {'metric': floats(m), 'kept': keep_normal(m, SPARSITY) if name in convs else None}
                           for name, m in metrics.items()}

    bns = ['bn1', 'bn2']
    modules = dict(net.named_modules())
    for key, scale in (('slim', SCALE), ('plain', 0.0)):
        load(net, state)
        train(net, batches, len(batches), extra_loss=lambda: scale * sum(modules[b].weight.norm(p=1) for b in bns))
        gammas = {b: modules[b].weight.detach().clone() for b in bns}
        result[key] = {'gamma': {b: floats(g) for b, g in gammas.items()},
                       'l1_before': float(sum(state[b + '.weight'].abs().sum() for b in bns)),
                       'l1_after': float(sum(g.abs().sum() for g in gammas.values()))}
        if key == 'slim':
            metric = {b: g.abs() for b, g in gammas.items()}
            result[key]['kept'] = global_keep(metric, {b: g.numel() for b, g in gammas.items()}, SLIM_TOTAL)
    json.dump(result, __import__('sys').stdout, indent=None)


if __name__ == '__main__':
    main()

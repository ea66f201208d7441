"""Writes nni_counts.json: NNI v2.10's count_flops_params on the Python twins of the test models in
tests/Trainer.Core.Tests/Graph/EncoderDecoderModels.cs, in both modes, one row per counted module call.

NNI itself is not a dependency of the project; its counter is plain Python over torch. To regenerate:

    git -C <nni clone> show v2.10:nni/compression/pytorch/utils/counter.py > /tmp/nni/counter.py
    /usr/bin/python3 nni_counts.py /tmp/nni/counter.py > nni_counts.json     # Debian's python3-torch 1.13

The counter's two imports that are not torch (prettytable, only used to print; NNI's PrunerModuleWrapper, only
used for masks) are replaced by stand-ins below; counting is unchanged. Weights are irrelevant to counting.
"""
import json
import sys
import types

import torch
import torch.nn as nn
import torch.nn.functional as F


def load_counter(path):
    pretty = types.ModuleType("prettytable")
    pretty.PrettyTable = object
    sys.modules["prettytable"] = pretty
    for name in ["nni", "nni.compression", "nni.compression.pytorch", "nni.compression.pytorch.compressor"]:
        sys.modules[name] = types.ModuleType(name)
    sys.modules["nni.compression.pytorch.compressor"].PrunerModuleWrapper = type("PrunerModuleWrapper", (), {})
    counter = types.ModuleType("nni_counter")
    with open(path) as f:
        exec(compile(f.read(), path, "exec"), counter.__dict__)
    return counter


class UNetLike(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc1 = nn.Conv2d(3, 8, 3, padding=1)
        self.enc2 = nn.Conv2d(8, 16, 3, padding=1)
        self.bottleneck = nn.Conv2d(16, 16, 3, padding=1)
        self.up2 = nn.ConvTranspose2d(16, 16, 2, stride=2)
        self.dec2 = nn.Conv2d(32, 16, 3, padding=1)
        self.dec1 = nn.Conv2d(24, 8, 3, padding=1)
        self.head = nn.Conv2d(8, 2, 1)
        self.side = nn.Conv2d(16, 2, 1)
        self.bn1, self.bn2, self.bnb = nn.BatchNorm2d(8), nn.BatchNorm2d(16), nn.BatchNorm2d(16)
        self.bnUp, self.bnd2, self.bnd1 = nn.BatchNorm2d(16), nn.BatchNorm2d(16), nn.BatchNorm2d(8)
        self.relu, self.relu6, self.tanh = nn.ReLU(), nn.ReLU6(), nn.Tanh()
        self.maxpool, self.avgpool = nn.MaxPool2d(2), nn.AvgPool2d(2)
        self.upsample = nn.Upsample(scale_factor=2.0, mode="bilinear", align_corners=False)

    def forward(self, x):
        e1 = self.relu(self.bn1(self.enc1(x)))
        e2 = self.relu(self.bn2(self.enc2(self.maxpool(e1))))
        b = self.relu6(self.bnb(self.bottleneck(self.avgpool(e2))))
        u2 = self.tanh(self.bnUp(self.up2(b)))
        d2 = self.relu(self.bnd2(self.dec2(torch.cat([u2, e2], 1))))
        d1 = self.relu(self.bnd1(self.dec1(torch.cat([self.upsample(d2), e1], 1))))
        side = F.interpolate(self.side(d2), scale_factor=2.0, mode="nearest")
        return self.head(d1) + side


class Conv1dNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv1d(4, 16, 3, padding=1)
        self.conv2 = nn.Conv1d(16, 32, 3, stride=2, padding=1)
        self.depthwise = nn.Conv1d(32, 32, 3, padding=1, groups=32)
        self.conv3 = nn.Conv1d(24, 16, 1)
        self.bn1, self.bn2 = nn.BatchNorm1d(16), nn.BatchNorm1d(32)
        self.mix, self.fc = nn.Linear(32, 24), nn.Linear(16, 3)
        self.relu, self.tanh = nn.ReLU(), nn.Tanh()
        self.pool, self.gap = nn.MaxPool1d(2), nn.AdaptiveAvgPool1d(1)

    def forward(self, x):
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.tanh(self.bn2(self.conv2(y)))
        y = self.pool(self.relu(self.depthwise(y)))
        y = self.relu(self.mix(y.permute(0, 2, 1))).permute(0, 2, 1)
        y = self.gap(self.relu(self.conv3(y)))
        return self.fc(y.squeeze(-1))


class ConcatResidualSeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.branchA, self.branchB = nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(3, 8, 1)
        self.shortcut = nn.Conv2d(3, 16, 1)
        self.squeeze, self.excite = nn.Conv2d(16, 4, 1), nn.Conv2d(4, 16, 1)
        self.conv = nn.Conv2d(16, 12, 3, padding=1)
        self.bnA, self.bnSum = nn.BatchNorm2d(8), nn.BatchNorm2d(16)
        self.relu, self.relu6, self.sigmoid = nn.ReLU(), nn.ReLU6(), nn.Sigmoid()
        self.seePool, self.gap = nn.AdaptiveAvgPool2d(1), nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(12, 5)

    def forward(self, x):
        cat = torch.cat([self.relu(self.bnA(self.branchA(x))), self.branchB(x)], 1)
        gate = self.sigmoid(self.excite(self.relu(self.squeeze(self.seePool(cat)))))
        y = self.relu(self.bnSum(cat * gate + self.shortcut(x)))
        y = self.gap(self.relu6(self.conv(y)))
        return self.fc(y.view(y.shape[0], -1))


class NormFollowersNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 8, 1)
        self.groupNorm = nn.GroupNorm(4, 8)
        self.embed, self.head = nn.Linear(8, 12), nn.Linear(12, 4)
        self.layerNorm = nn.LayerNorm(12)
        self.relu = nn.ReLU()

    def forward(self, x):
        y = self.conv2(self.relu(self.groupNorm(self.conv1(x))))
        tokens = y.flatten(2).transpose(1, 2)
        return self.head(self.relu(self.layerNorm(self.embed(tokens))))


class PixelShuffleNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(3, 16, 3, padding=1), nn.Conv2d(4, 2, 1)
        self.shuffle = nn.PixelShuffle(2)

    def forward(self, x):
        return self.conv2(self.shuffle(self.conv1(x)))


MODELS = [
    ("UNetLike", UNetLike, (1, 3, 16, 16)),
    ("Conv1dNet", Conv1dNet, (1, 4, 32)),
    ("ConcatResidualSeNet", ConcatResidualSeNet, (1, 3, 8, 8)),
    ("NormFollowersNet", NormFollowersNet, (1, 3, 4, 4)),
    ("PixelShuffleNet", PixelShuffleNet, (1, 3, 4, 4)),
]


def main():
    counter = load_counter(sys.argv[1])
    out = {"source": "NNI v2.10 nni/compression/pytorch/utils/counter.py count_flops_params, torch " + torch.__version__,
           "models": {}}
    for name, cls, shape in MODELS:
        torch.manual_seed(0)
        model = cls()
        entry = {"input_shape": list(shape)}
        for mode in ["default", "full"]:
            flops, params, rows = counter.count_flops_params(model, shape, verbose=False, mode=mode)
            entry[mode] = {
                "total_flops": int(flops), "total_params": int(params),
                "rows": [{"name": r["name"], "type": r["module_type"], "flops": int(r["flops"]), "params": int(r["params"]),
                          "output_shape": list(r["output_size"])} for r in rows],
            }
        out["models"][name] = entry
    json.dump(out, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()

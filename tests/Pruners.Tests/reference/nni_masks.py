#!/usr/bin/env python3
"""Writes nni_masks.json: the masks NNI v2.10's own pruners (LevelPruner, L1NormPruner, L2NormPruner, FPGMPruner) give on
TorchVision's resnet18 with seeded PyTorch-initialised weights, in normal and dependency-aware mode, and in global mode
(NNI's GlobalSparsityAllocator over the L1 and level metrics), for the config lists below. PrunersParityTests regenerates the same weights in TorchSharp, loads them through PyTorchWeights and compares.

NNI is not a dependency of the project. To regenerate, extract NNI v2.10's package from its repository and run this with
Debian's python3-torch 1.13 (no torchvision needed: resnet18 is written out below with TorchVision's module names):

    git -C <nni clone> archive v2.10 nni | tar -x -C /tmp/nni210
    /usr/bin/python3 nni_masks.py /tmp/nni210 > nni_masks.json
    /usr/bin/python3 nni_masks.py /tmp/nni210 --weights /tmp/resnet18-seed14.pt   # optional: the weights as a state_dict

What runs is NNI's code: basic_pruner.py, pruning/tools (TargetDataCollector, NormMetricsCalculator,
DistMetricsCalculator, NormalSparsityAllocator, DependencyAwareAllocator), utils (config_list_canonical, Scaling),
base (Compressor, Pruner, PrunerModuleWrapper), nni/common/graph_utils.py (TorchModuleGraph, torch.jit.trace) and
nni/compression/pytorch/utils/shape_dependency.py (ChannelDependency, GroupDependency). Stand-ins replace only imports
that do not take part in computing masks:
  - the `schema` package (config-list validation only): Schema/And/Or/Optional accept everything;
  - `json_tricks` (task_generator's checkpoint files, not used by one-shot pruners): an empty module;
  - `tensorboard`'s protobuf classes, which torch.utils.tensorboard._pytorch_graph imports only to write graphs for
    TensorBoard (NNI builds on that module's NodePy/GraphPy classes): empty classes; torch.utils.tensorboard's
    __init__ (it imports the SummaryWriter) is skipped as a path-only package;
  - the package __init__ files of nni, nni.common, nni.compression.pytorch(.utils) and nni.algorithms...pruning (they import the
    experiment runtime, the serializer and schedulers): path-only packages, so the submodules above load unchanged;
  - nni.common.serializer.is_traceable (optimizer helpers only): returns False.

Weights: torch.manual_seed(SEED), then for each module in named_modules() order: Conv2d/Linear reset_parameters()
(PyTorch's default kaiming_uniform_(a=sqrt(5)) and bias uniform_), BatchNorm2d weight uniform_(0.5, 1.5) and bias
uniform_(-0.2, 0.2). Every draw is a uniform_ on the CPU generator, which TorchSharp reproduces bit for bit.

Output per case: for channel pruners the kept output-channel indices per layer; for level the kept count per layer, a
SHA-256 of the mask (uint8, row-major), whether equal magnitudes straddle the cut, and the full mask (numpy.packbits,
hex) of the layers of at most 10000 weights.
"""
import hashlib
import json
import math
import os
import sys
import types

import numpy as np
import torch
from torch import nn

SEED = 14


def stand_ins(nni_root):
    schema = types.ModuleType("schema")

    class _Any:
        def __init__(self, *args, **kwargs):
            self.args = args
            self._schema = args[0] if args else None

        def validate(self, data):
            return data

        def __hash__(self):
            return id(self)

    schema.Schema = schema.And = schema.Or = schema.Optional = _Any
    schema.SchemaError = type("SchemaError", (Exception,), {})
    sys.modules["schema"] = schema
    sys.modules["json_tricks"] = types.ModuleType("json_tricks")
    # torch.utils.tensorboard._pytorch_graph (PyTorch's NodePy/GraphPy classes, which NNI's graph builds on) imports
    # tensorboard's protobuf classes for writing graphs to TensorBoard only; that package is not installed.
    for name in ["tensorboard", "tensorboard.compat", "tensorboard.compat.proto"]:
        sys.modules[name] = types.ModuleType(name)
    for proto in ["config_pb2", "graph_pb2", "step_stats_pb2", "versions_pb2", "attr_value_pb2", "node_def_pb2",
                  "tensor_shape_pb2"]:
        module = types.ModuleType("tensorboard.compat.proto." + proto)
        module.__getattr__ = lambda attr: type(attr, (), {})
        sys.modules[module.__name__] = module
    board = types.ModuleType("torch.utils.tensorboard")
    board.__path__ = [os.path.join(os.path.dirname(torch.__file__), "utils", "tensorboard")]
    sys.modules["torch.utils.tensorboard"] = board
    for name, rel in [("nni", "nni"), ("nni.common", "nni/common"), ("nni.compression", "nni/compression"),
                      ("nni.compression.pytorch", "nni/compression/pytorch"),
                      ("nni.compression.pytorch.utils", "nni/compression/pytorch/utils"),
                      ("nni.algorithms", "nni/algorithms"), ("nni.algorithms.compression", "nni/algorithms/compression"),
                      ("nni.algorithms.compression.v2", "nni/algorithms/compression/v2"),
                      ("nni.algorithms.compression.v2.pytorch", "nni/algorithms/compression/v2/pytorch"),
                      ("nni.algorithms.compression.v2.pytorch.pruning",
                       "nni/algorithms/compression/v2/pytorch/pruning")]:
        module = types.ModuleType(name)
        module.__path__ = [os.path.join(nni_root, rel)]
        sys.modules[name] = module
    serializer = types.ModuleType("nni.common.serializer")
    serializer.is_traceable = lambda obj: False
    sys.modules["nni.common.serializer"] = serializer
    sys.modules["nni.common"].is_traceable = serializer.is_traceable
    sys.path.insert(0, nni_root)


class BasicBlock(nn.Module):
    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class ResNet18(nn.Module):
    """torchvision.models.resnet18's modules, names and forward (torchvision 0.14)."""

    def __init__(self, num_classes=1000):
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = self._layer(64, 1)
        self.layer2 = self._layer(128, 2)
        self.layer3 = self._layer(256, 2)
        self.layer4 = self._layer(512, 2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512, num_classes)

    def _layer(self, planes, stride):
        downsample = None
        if stride != 1 or self.inplanes != planes:
            downsample = nn.Sequential(nn.Conv2d(self.inplanes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))
        blocks = [BasicBlock(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes
        blocks.append(BasicBlock(planes, planes))
        return nn.Sequential(*blocks)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def seeded_resnet18():
    model = ResNet18()
    torch.manual_seed(SEED)
    with torch.no_grad():
        for _, module in model.named_modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                module.reset_parameters()
            elif isinstance(module, nn.BatchNorm2d):
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.2, 0.2)
    return model.eval()


def fingerprint(model):
    """Per parameter: SHA-256 of the float32 bytes, so the C# side proves it pruned the same weights."""
    return {name: hashlib.sha256(p.detach().contiguous().numpy().astype("<f4").tobytes()).hexdigest()[:16]
            for name, p in model.named_parameters()}


CONV_LAYERS = None  # set in main: every Conv2d name in named_modules order

CASES = [
    # (pruner, mode, config list)
    ("l1", "normal", [{"op_types": ["Conv2d"], "sparsity_per_layer": 0.5}]),
    ("l2", "normal", [{"op_types": ["Conv2d"], "sparsity_per_layer": 0.3},
                      {"op_names": ["conv1"], "exclude": True}]),
    ("fpgm", "normal", [{"op_types": ["Conv2d"], "sparsity_per_layer": 0.25}]),
    ("l1", "dependency_aware", [{"op_types": ["Conv2d"], "sparsity_per_layer": 0.5}]),
    ("l2", "dependency_aware", [{"op_types": ["Conv2d"], "sparsity_per_layer": 0.3},
                                {"op_names": ["layer2.0.downsample.0"], "sparsity_per_layer": 0.6}]),
    ("fpgm", "dependency_aware", [{"op_types": ["Conv2d"], "sparsity_per_layer": 0.25},
                                  {"op_names": ["layer4.1.conv2"], "exclude": True}]),
    ("level", "normal", [{"op_types": ["Conv2d", "Linear"], "sparsity_per_layer": 0.7},
                         {"op_names": ["fc"], "sparsity_per_layer": 0.9}]),
    # NNI's GlobalSparsityAllocator (used by its Slim and Taylor pruners) over the L1 and level metrics: the pruner is
    # built in normal mode and its allocator replaced, as NNI's reset_tools would set it.
    ("l1", "global", [{"op_types": ["Conv2d"], "total_sparsity": 0.5, "max_sparsity_per_layer": 0.8}]),
    ("level", "global", [{"op_types": ["Conv2d"], "total_sparsity": 0.6}, {"op_names": ["conv1"], "exclude": True}]),
]


def run_case(pruning, name, mode, config_list):
    model = seeded_resnet18()
    dummy = torch.rand(1, 3, 224, 224)
    built_mode = "normal" if mode == "global" else mode
    if name == "level":
        pruner = pruning.LevelPruner(model, config_list, mode=built_mode)
    elif name in ("l1", "l2"):
        cls = pruning.L1NormPruner if name == "l1" else pruning.L2NormPruner
        pruner = cls(model, config_list, mode=built_mode, dummy_input=dummy)
    else:
        pruner = pruning.FPGMPruner(model, config_list, mode=built_mode, dummy_input=dummy)
    if mode == "global":
        scalers = None if name == "level" else pruning.Scaling(kernel_size=[1], kernel_padding_mode="back")
        pruner.sparsity_allocator = pruning.GlobalSparsityAllocator(pruner, scalers)
    _, masks = pruner.compress()
    layers = {}
    for layer, targets in masks.items():
        mask = targets["weight"]
        if name == "level":
            flags = (mask != 0).to(torch.uint8).contiguous()
            entry = {"kept": int(flags.sum().item()), "numel": flags.numel(),
                     "sha256": hashlib.sha256(flags.numpy().tobytes()).hexdigest()}
            if flags.numel() <= 10000:
                entry["mask_hex"] = bytes(np.packbits(flags.reshape(-1).numpy())).hex()
            # Whether equal magnitudes straddle the cut (then only torch.topk's tie order decides the mask).
            magnitude = model.get_submodule(layer).weight.detach().abs().reshape(-1)
            kept_values, pruned_values = magnitude[flags.reshape(-1) == 1], magnitude[flags.reshape(-1) == 0]
            entry["tie_at_cut"] = bool(pruned_values.numel() > 0 and kept_values.min() == pruned_values.max())
            layers[layer] = entry
        else:
            per_channel = mask.reshape(mask.shape[0], -1)
            assert bool(((per_channel == 0).all(1) | (per_channel == 1).all(1)).all()), layer
            layers[layer] = [i for i in range(mask.shape[0]) if per_channel[i, 0] != 0]
    result = {"pruner": name, "mode": mode, "config_list": config_list, "layers": layers}
    if mode == "dependency_aware":
        result["channel_dependency"] = sorted(sorted(s) for s in pruner.sparsity_allocator.channel_dependency)
    return result


def main():
    stand_ins(sys.argv[1])
    import nni.algorithms.compression.v2.pytorch.pruning.basic_pruner as pruning
    model = seeded_resnet18()
    if "--weights" in sys.argv:
        torch.save(model.state_dict(), sys.argv[sys.argv.index("--weights") + 1])
    out = {"nni": "v2.10", "torch": torch.__version__, "seed": SEED,
           "draw_order": [n for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear, nn.BatchNorm2d))],
           "weights_sha256_16": fingerprint(model),
           "cases": [run_case(pruning, *case) for case in CASES]}
    json.dump(out, sys.stdout, separators=(",", ":"))


if __name__ == "__main__":
    main()

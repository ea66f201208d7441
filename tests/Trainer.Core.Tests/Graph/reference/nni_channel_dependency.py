#!/usr/bin/env python3
"""Writes nni_channel_dependency.json: NNI v2.10's ChannelDependency sets (Filter type) and GroupDependency of
TorchVision's mobilenet_v2 and mobilenet_v3_small (squeeze-and-excitation), as NNI's own code computes them.
NniDependencyParityTests compares `analyze deps`' NNI-format sets with them.

NNI is not a dependency of the project. To regenerate, extract NNI v2.10's package and run this with Debian's
python3-torch 1.13 and python3-torchvision 0.14 (the same stand-ins as tests/Pruners.Tests/reference/nni_masks.py
replace only imports that take no part in the analysis):

    git -C <nni clone> archive v2.10 nni | tar -x -C /tmp/nni210
    /usr/bin/python3 nni_channel_dependency.py /tmp/nni210 > nni_channel_dependency.json
"""
import json
import os
import sys

import torch
import torchvision

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "Pruners.Tests", "reference"))
from nni_masks import stand_ins  # noqa: E402


def main():
    stand_ins(sys.argv[1])
    from nni.compression.pytorch.utils.shape_dependency import ChannelDependency, GroupDependency

    result = {}
    for name in ["mobilenet_v2", "mobilenet_v3_small"]:
        model = getattr(torchvision.models, name)().eval()
        dummy = torch.zeros(1, 3, 224, 224)
        channel = ChannelDependency(model, dummy)
        group = GroupDependency(model, dummy)
        result[name] = {
            "channel_sets": [sorted(s) for s in channel.dependency_sets],
            "group_divisors": {k: int(v) for k, v in sorted(group.dependency.items())},
        }
    json.dump(result, sys.stdout, indent=1, sort_keys=True)
    print()


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Writes the PyTorch-weights fixture of PyTorchWeightsTests with Debian's python3-torch (1.13).

Run from this folder:  /usr/bin/python3 make_pytorch_fixture.py

Writes (all small enough to check in):
  small_conv.pt          state_dict of SmallConvNet, saved by torch.save (the zip format of PyTorch >= 1.6)
  small_conv_input.bin   input, float32 little-endian, shape [2, 3, 16, 16]
  small_conv_output.bin  PyTorch's output for that input in eval mode, float32 little-endian, shape [2, 10]
  not_a_state_dict.pt    torch.save of a bare tensor (a file PyTorch wrote that is not a state_dict)
  checkpoint_dict.pt     torch.save of {"model": state_dict, "epoch": 3} (a training checkpoint, not a state_dict)
  legacy_format.pt       the state_dict saved with _use_new_zipfile_serialization=False (PyTorch < 1.6's format)
  whole_model.pt         torch.save(model): the pickled module, not its state_dict
  no_counters.pt         the state_dict without BatchNorm's num_batches_tracked (as PyTorch < 0.4.1 saved it)
"""
import os

import torch
from torch import nn


class SmallConvNet(nn.Module):
    """The model PyTorchWeightsTests rebuilds in C# with the same parameter names."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1),           # features.0
            nn.BatchNorm2d(8),                       # features.1
            nn.ReLU(),                               # features.2
            nn.MaxPool2d(2),                         # features.3
            nn.Conv2d(8, 16, 3, stride=2, padding=1),  # features.4
            nn.BatchNorm2d(16),                      # features.5
            nn.ReLU(),                               # features.6
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(16, 10)

    def forward(self, x):
        return self.classifier(torch.flatten(self.pool(self.features(x)), 1))


def write_f32(path, tensor):
    tensor.detach().contiguous().to(torch.float32).numpy().astype("<f4").tofile(path)


def main():
    torch.manual_seed(20240613)
    model = SmallConvNet()
    # Non-trivial BatchNorm state: random affine parameters, and running statistics moved away from 0 and 1
    # by a few training-mode passes over shifted, scaled data (num_batches_tracked becomes 5).
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.5, 0.5)
        model.train()
        for _ in range(5):
            model(torch.randn(8, 3, 16, 16) * 2.0 + 0.7)
    model.eval()

    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        y = model(x)

    state = model.state_dict()
    torch.save(state, "small_conv.pt")
    write_f32("small_conv_input.bin", x)
    write_f32("small_conv_output.bin", y)
    torch.save(torch.zeros(3), "not_a_state_dict.pt")
    torch.save({"model": state, "epoch": 3}, "checkpoint_dict.pt")
    torch.save(state, "legacy_format.pt", _use_new_zipfile_serialization=False)
    torch.save(model, "whole_model.pt")
    torch.save({k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}, "no_counters.pt")

    for name, tensor in state.items():
        print(f"{name:32s} {list(tensor.shape)} {tensor.dtype}")
    print("output[0]:", [round(v, 5) for v in y[0].tolist()])
    for f in sorted(os.listdir(".")):
        if f.endswith((".pt", ".bin")):
            print(f"{f:24s} {os.path.getsize(f)} bytes")


if __name__ == "__main__":
    main()

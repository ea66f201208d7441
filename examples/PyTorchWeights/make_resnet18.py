#!/usr/bin/env python3
"""Writes TorchVision's resnet18 state_dict, an input and PyTorch's output for it, for the PyTorchWeights example.

Needs Debian's python3-torch and python3-torchvision (apt install python3-torchvision). Run:
    /usr/bin/python3 examples/PyTorchWeights/make_resnet18.py --out /tmp/resnet18-pt

Writes into --out:
  resnet18.pt    state_dict of torchvision.models.resnet18, saved by torch.save (about 45 MB, so it is not checked in)
  input.bin      the input, float32 little-endian, shape [2, 3, 224, 224]
  output.bin     PyTorch's output in eval mode, float32 little-endian, shape [2, 1000]
The weights are PyTorch's seeded random initialisation with random BatchNorm scales and shifts, and running statistics moved
by a few training-mode passes, so every tensor of the state_dict matters to the output.
"""
import argparse
import os

import torch
import torchvision


def write_f32(path, tensor):
    tensor.detach().contiguous().to(torch.float32).numpy().astype("<f4").tofile(path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="folder to write resnet18.pt, input.bin and output.bin into")
    parser.add_argument("--seed", type=int, default=18)
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)

    torch.manual_seed(args.seed)
    model = torchvision.models.resnet18()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.2, 0.2)
        model.train()
        for _ in range(3):
            model(torch.randn(4, 3, 224, 224))
    model.eval()

    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        y = model(x)

    torch.save(model.state_dict(), os.path.join(args.out, "resnet18.pt"))
    write_f32(os.path.join(args.out, "input.bin"), x)
    write_f32(os.path.join(args.out, "output.bin"), y)
    print(f"torch {torch.__version__}, torchvision {torchvision.__version__}: "
          f"{len(model.state_dict())} state_dict entries, output {list(y.shape)}, max |output| {y.abs().max().item():.4f}")
    print(f"wrote {args.out}/resnet18.pt, input.bin, output.bin")


if __name__ == "__main__":
    main()

#!/usr/bin/env bash
# The test command: every test, then the numeric tests again with oneDNN held to AVX2, so that kernels another CPU
# would pick are checked on this one too (oneDNN picks its kernels by instruction set; see docs/cpu-portability.md).
set -euo pipefail
cd "$(dirname "$0")/.."
# The Slurm trial runner is tested against a real one-node cluster (the test fixture also starts it if it is down).
./build/slurm/start-single-node.sh
dotnet test Trainer.sln
echo "test: numeric tests with ONEDNN_MAX_CPU_ISA=AVX2"
ONEDNN_MAX_CPU_ISA=AVX2 dotnet test tests/Trainer.Core.Tests --no-build --filter "Category=Numeric"

#!/usr/bin/env bash
# Installs the Debian packages the project needs (only those missing): the Fashion-MNIST data set,
# g++ + patchelf for the TorchSharp native-library fix (see build/native-fix/apply.sh), Graphviz to
# draw model graphs, fontconfig + DejaVu fonts for the text in plots, and Slurm with munge for the Slurm trial
# runner's tests (build/slurm/start-single-node.sh starts a one-node cluster).
set -euo pipefail
need=()
for pkg in dataset-fashion-mnist patchelf g++ graphviz fontconfig fonts-dejavu-core slurm-wlm munge; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "setup: installing ${need[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi
command -v dotnet >/dev/null || { echo "setup: the .NET 10 SDK is required (https://dot.net)"; exit 1; }

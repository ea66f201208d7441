#!/usr/bin/env bash
# Installs what benchmarks/VsPyTorch/pytorch_side.py needs on Debian 12:
# Debian's PyTorch, the Fashion-MNIST IDX files, and OpenMP OpenBLAS as the
# system BLAS/LAPACK. Safe to run again; uses sudo only when not root.
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

PKGS=(python3-torch dataset-fashion-mnist libopenblas0-openmp)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  $SUDO apt-get update
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
fi

# Point each BLAS alternative at its openblas-openmp candidate.
ARCH=x86_64-linux-gnu
for lib in libblas.so.3 liblapack.so.3 libopenblas.so.0; do
  name="$lib-$ARCH"
  target="$(update-alternatives --list "$name" 2>/dev/null | grep '/openblas-openmp/' | head -n1 || true)"
  if [ -z "$target" ]; then
    echo "setup-pytorch: no openblas-openmp candidate for $name" >&2
    exit 1
  fi
  current="$(update-alternatives --query "$name" | sed -n 's/^Value: //p')"
  if [ "$current" != "$target" ]; then
    $SUDO update-alternatives --set "$name" "$target"
  fi
  echo "setup-pytorch: $name -> $target"
done

/usr/bin/python3 -c 'import torch; print("setup-pytorch: torch", torch.__version__)'

#!/usr/bin/env bash
# Makes TorchSharp's native glue load on systems whose libstdc++ predates GLIBCXX_3.4.32
# (Debian 12). Runs after every build/publish on the output folder given as $1; idempotent;
# does nothing where the system libstdc++ is new enough or the output has no TorchSharp natives.
# See docs/build-and-backends.md ("Why the build patches libLibTorchSharp.so").
set -euo pipefail
out="${1:?usage: apply.sh <output folder>}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
symbol=_ZSt21ios_base_library_initv
version=GLIBCXX_3.4.32
shim_name=libtrainer_iosinit_shim.so

lib=""
for cand in "$out/runtimes/linux-x64/native/libLibTorchSharp.so" "$out/libLibTorchSharp.so"; do
  [ -f "$cand" ] && { lib="$cand"; break; }
done
[ -n "$lib" ] || exit 0
dir="$(dirname "$lib")"

stdcxx="$(ldconfig -p 2>/dev/null | awk '/libstdc\+\+\.so\.6 .*x86-64/ {print $NF; exit}')"
[ -n "$stdcxx" ] || stdcxx=/lib/x86_64-linux-gnu/libstdc++.so.6
if grep -qa "$version" "$stdcxx" 2>/dev/null; then
  exit 0   # the system libstdc++ already provides the symbol
fi

for tool in g++ patchelf; do
  command -v "$tool" >/dev/null || {
    echo "error: native-fix: '$tool' is needed to make TorchSharp load on this system; install it: sudo apt-get install -y $tool" >&2
    exit 1
  }
done

if patchelf --print-needed "$lib" | grep -qx "$shim_name" && [ -f "$dir/$shim_name" ]; then
  exit 0   # already patched
fi

# Tools are compiled once per checkout into build/native-fix/.cache.
cache="$here/.cache"
mkdir -p "$cache"
if [ ! -f "$cache/$shim_name" ] || [ "$here/ios_base_library_init_shim.cpp" -nt "$cache/$shim_name" ]; then
  g++ -shared -fPIC -O2 -o "$cache/$shim_name.tmp.$$" "$here/ios_base_library_init_shim.cpp"
  mv -f "$cache/$shim_name.tmp.$$" "$cache/$shim_name"
fi
if [ ! -x "$cache/mark_version_weak" ] || [ "$here/mark_version_weak.cpp" -nt "$cache/mark_version_weak" ]; then
  g++ -O2 -o "$cache/mark_version_weak.tmp.$$" "$here/mark_version_weak.cpp"
  mv -f "$cache/mark_version_weak.tmp.$$" "$cache/mark_version_weak"
fi

cp -f "$cache/$shim_name" "$dir/$shim_name"
tmp="$lib.patching.$$"
cp -f "$lib" "$tmp"
patchelf --clear-symbol-version "$symbol" "$tmp"
patchelf --add-needed "$shim_name" "$tmp"
"$cache/mark_version_weak" "$tmp" "$version" >/dev/null
mv -f "$tmp" "$lib"
echo "native-fix: patched $lib for $version"

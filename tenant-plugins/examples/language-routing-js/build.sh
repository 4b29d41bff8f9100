#!/usr/bin/env bash
# Builds the language-routing plugin (JavaScript) into a component: build.sh OUTPUT.wasm
#
# Installs the pinned toolchain (package.json: componentize-js 0.23.0, jco 1.35.0) once into
# $SWITCHBOARD_TOOL_CACHE (default ~/.cache/switchboard-tools) and reuses it.
# Writes nothing in the repository but OUTPUT.wasm. Needs node (20 or later) and npm.
set -euo pipefail

if [ $# -ne 1 ]; then
    echo "usage: $0 OUTPUT.wasm" >&2
    exit 2
fi
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
wit=$(cd "$here/../../wit" && pwd)
out_dir=$(mkdir -p "$(dirname "$1")" && cd "$(dirname "$1")" && pwd)
out="$out_dir/$(basename "$1")"

# One directory per package.json content: a changed pin installs afresh, an unchanged one is
# reused. (No lockfile: npm 11's `npm ci` rejects its own lockfiles for these packages' optional
# per-platform binaries.)
cache=${SWITCHBOARD_TOOL_CACHE:-$HOME/.cache/switchboard-tools}
pin=$(sha256sum <"$here/package.json" | cut -c1-16)
tools="$cache/componentize-js-0.23.0-$pin"
if [ ! -f "$tools/.installed" ]; then
    mkdir -p "$cache"
    tmp=$(mktemp -d "$cache/.install.XXXXXX")
    chmod 755 "$tmp"
    trap 'rm -rf "$tmp"' EXIT
    cp "$here/package.json" "$tmp/"
    (cd "$tmp" && npm install --no-package-lock --no-audit --no-fund --loglevel=error)
    touch "$tmp/.installed"
    # Another build may have finished the same install meanwhile: keep the first.
    mv -T "$tmp" "$tools" 2>/dev/null || rm -rf "$tmp"
fi

start=$(date +%s)
node "$tools/node_modules/@bytecodealliance/componentize-js/src/cli.js" "$here/app.js" \
    --wit "$wit" --world-name plugin \
    --disable stdio random clocks http fetch-event \
    --out "$out"
echo "built $out: $(wc -c <"$out") bytes in $(($(date +%s) - start)) s"
echo "its world: $tools/node_modules/.bin/jco wit $out"

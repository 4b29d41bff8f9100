#!/usr/bin/env bash
# Runs the product: everything in one process with the embedded backends (SQLite in ./data,
# in-process bus), on http://localhost:8080. Flags and SWITCHBOARD_* variables change that; see
# `infra/run.sh --help`.
set -euo pipefail
cd "$(dirname "$0")/.."
# The browser apps are built first so the binary serves them from web/dist.
infra/web.sh build
exec cargo run --release --locked --bin switchboard -- "$@"

#!/usr/bin/env bash
# Runs the product: everything in one process with the embedded backends (SQLite in ./data,
# in-process bus), on http://localhost:8080. Flags and SWITCHBOARD_* variables change that; see
# `infra/run.sh --help`.
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo run --release --locked --bin switchboard -- "$@"

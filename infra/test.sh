#!/usr/bin/env bash
# The whole test suite: formatting, lints, architecture invariants and every test, on both the
# embedded backends and the distributed ones (PostgreSQL, RabbitMQ), which it installs and starts.
# With CI=true a backend suite that cannot run is a failure, not a skip.
set -euo pipefail
cd "$(dirname "$0")/.."

# A CI run starts from a fresh clone: incremental caches there only cost disk (gigabytes).
if [ "${CI:-}" = "true" ]; then
  export CARGO_INCREMENTAL=0
fi

if infra/services.sh start && infra/services.sh reset-test-data; then
  eval "$(infra/services.sh env)"
elif [ "${CI:-}" = "true" ]; then
  echo "test: could not start PostgreSQL/RabbitMQ, and CI needs them" >&2
  exit 1
else
  echo "test: *** PostgreSQL/RabbitMQ unavailable: their suites will be SKIPPED ***" >&2
fi

# Tenant plugin guests (SDK examples, fixtures) are built for this target by the tests.
if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2; then
  rustup target add wasm32-wasip2 || echo "test: *** could not add wasm32-wasip2: plugin guest tests will fail or skip ***" >&2
fi

echo "== cargo fmt --check" >&2
cargo fmt --all --check
(cd tenant-plugins && cargo fmt --all --check)
echo "== tenant plugin guests: unit tests on the host" >&2
(cd tenant-plugins && cargo test --workspace --locked --quiet)
echo "== cargo clippy" >&2
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== web: type-check, build, unit tests (Vitest)" >&2
infra/web.sh test
echo "== web: end-to-end in headless Chromium (console, admin, wallboard, widget)" >&2
cargo build --locked --bin switchboard
infra/web.sh e2e
echo "== tests" >&2
if cargo nextest --version >/dev/null 2>&1; then
  # Doc tests first: nextest's summary must be the run's closing line.
  cargo test --workspace --doc --locked
  cargo nextest run --workspace --locked --no-fail-fast
else
  cargo test --workspace --locked --no-fail-fast
fi

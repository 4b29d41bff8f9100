#!/usr/bin/env bash
# Builds and tests the browser apps under web/ (admin portal, agent console, wallboard, chat
# widget). Idempotent; installs the npm packages from the lock file when they are missing or stale.
#
#   infra/web.sh build    install if needed, type-check, build web/dist
#   infra/web.sh test     build, then the Vitest unit tests
#   infra/web.sh e2e      end-to-end in headless Chromium against a real switchboard (needs it built):
#                         the contact-center run, billing with a Stripe stand-in, plugins, then a
#                         phone call (sipp caller, baresip desk phone) driven from the console
set -euo pipefail
cd "$(dirname "$0")/../web"

install() {
  command -v npm >/dev/null 2>&1 || { echo "web: npm is missing (install Node.js 20+)" >&2; exit 1; }
  local stamp=node_modules/.switchboard-lock
  if [ ! -f "$stamp" ] || ! cmp -s package-lock.json "$stamp"; then
    echo "web: npm ci" >&2
    # Some npm 11 releases refuse their own lock file when a package has optional platform
    # packages (npm/cli#4828, rollup's native builds); install from the same lock file then.
    if ! npm ci --no-audit --no-fund --loglevel=error 2>/dev/null; then
      echo "web: npm ci refused the lock file (npm/cli#4828); npm install from it instead" >&2
      npm install --no-audit --no-fund --no-save --loglevel=error
    fi
    cp package-lock.json "$stamp"
  fi
}

case "${1:-build}" in
  build) install; npm run --silent build ;;
  test) install; npm run --silent build; npx vitest run ;;
  e2e) install; node e2e/run.mjs; node e2e/billing.mjs; node e2e/plugins.mjs; node e2e/voice.mjs ;;
  *) echo "usage: infra/web.sh build|test|e2e" >&2; exit 2 ;;
esac

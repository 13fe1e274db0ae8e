#!/usr/bin/env bash
# Proves the tests do not depend on where the checkout lives (called by .ci/run; runs alone too):
# clones HEAD (committed work only) into a new directory with a random name and a space in it,
# installs from the lockfile, and runs the tests that find files or start processes by path:
#   - the backend simulator's tests (the recorded fixtures in fixtures/, the CLI as a child process),
#   - the llm-clients tests that replay those fixtures,
#   - one cross-service test that starts the api and the workers as processes (test/support/stack.ts).
# Needs Redis at REDIS_URL, like the suite.
set -euo pipefail
cd "$(dirname "$0")/.."
base=$(mktemp -d)
trap 'rm -rf "$base"' EXIT
dir="$base/gateway clone $RANDOM$RANDOM"
git clone -q . "$dir"
echo "ci: fresh clone of $(git rev-parse --short HEAD) at $dir"
cd "$dir"
npm ci --no-audit --no-fund --prefer-offline
npx vitest run \
  packages/backend-sim/src \
  packages/llm-clients/src/errors.test.ts packages/llm-clients/src/vllm.test.ts packages/llm-clients/src/ollama.test.ts \
  test/chaos/graceful-shutdown.test.ts

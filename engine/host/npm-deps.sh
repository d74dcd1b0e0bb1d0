#!/usr/bin/env bash
# Installs the project's npm dependencies from the lock file, once: `npm ci` is skipped when node_modules was
# installed from the same package-lock.json (its hash is kept in node_modules/.lock-hash).
set -euo pipefail
cd "$(dirname "$0")/../.."
want=$(sha256sum package-lock.json | cut -d' ' -f1)
have=$(cat node_modules/.lock-hash 2>/dev/null || true)
if [ "$want" != "$have" ]; then
  echo "npm-deps: npm ci (the native addon zstd-napi builds from source; about a minute)"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$want" > node_modules/.lock-hash
fi

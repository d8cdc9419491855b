# Every tool answers --help and --version with exit 0, rejects unknown
# options with exit 2, and says which stream kinds it reads and writes.
. "$E2E_DIR/lib.sh"
n=0
for tool in "$LC_BIN"/*; do
    [ -x "$tool" ] || continue
    name=$(basename "$tool")
    "$tool" --help > help.txt || die "$name --help failed"
    grep -q "^Usage: $name" help.txt || die "$name --help has no usage line"
    grep -q "Exit status" help.txt || die "$name --help does not document exit codes"
    "$tool" --version > version.txt || die "$name --version failed"
    grep -qE "^$name \(sarface-tools\) [0-9]+\.[0-9]+\.[0-9]+" version.txt || die "$name --version: $(cat version.txt)"
    grep -q "^backends: cpu" version.txt || die "$name --version lacks the backends line"
    expect_status 2 "unknown option" -- "$tool" --no-such-option
    n=$((n + 1))
done
[ $n -ge 1 ] || die "no tools found in $LC_BIN"

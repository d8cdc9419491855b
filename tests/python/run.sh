#!/usr/bin/env bash
# Python interoperability tests: the numpy reader printed in
# docs/stream-format.md reads streams the C tools wrote, and .npy files go
# both ways. Needs /usr/bin/python3 with numpy (scripts/install-deps).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
PYTHON=${PYTHON:-/usr/bin/python3}
if ! "$PYTHON" -c 'import numpy' 2>/dev/null; then
    echo "SKIP python interop tests: $PYTHON has no numpy (apt-get install python3-numpy)"
    exit 0
fi
exec "$PYTHON" "$here/test_interop.py" -v

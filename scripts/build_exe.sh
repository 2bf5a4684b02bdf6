#!/usr/bin/env bash
# Build the frozen diffview app (PyInstaller, onedir) from a clean tree, report its size and run
# its self-test.
#
#   scripts/build_exe.sh [--light] [--no-cuda] [--dist DIR] [--work DIR] [--no-self-test]
#
#   --light         no torch (DIFFVIEW_NO_TORCH=1): smaller, cannot retrain
#   --no-cuda       leave out onnxruntime-gpu's CUDA/TensorRT providers (DIFFVIEW_NO_CUDA=1)
#   --dist, --work  output and scratch folders (default: dist/ and build/ in the repo)
#
# Python: $PYTHON, else .venv/bin/python, else python3; it needs the app's dependencies and
# PyInstaller (`pip install -e ".[freeze]"`). The exit status is the self-test's (or the build's).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"

DIST="$ROOT/dist"
WORK="$ROOT/build"
SELF_TEST=1
while [[ $# -gt 0 ]]; do
    case "$1" in
        --light) export DIFFVIEW_NO_TORCH=1 ;;
        --no-cuda) export DIFFVIEW_NO_CUDA=1 ;;
        --dist) DIST="$(realpath -m "$2")"; shift ;;
        --work) WORK="$(realpath -m "$2")"; shift ;;
        --no-self-test) SELF_TEST=0 ;;
        -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "build_exe.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

if [[ -n "${PYTHON:-}" ]]; then
    PY="$PYTHON"
elif [[ -x "$ROOT/.venv/bin/python" ]]; then
    PY="$ROOT/.venv/bin/python"
else
    PY="$(command -v python3)"
fi
if ! "$PY" -c "import PyInstaller" 2>/dev/null; then
    echo "build_exe.sh: PyInstaller is not installed for $PY; run: $PY -m pip install -e \".[freeze]\"" >&2
    exit 3
fi

# A clean tree: nothing left from an earlier build (the defaults are gitignored build/ and
# dist/; for other folders only the app's own subfolders are removed).
if [[ "$DIST" == "$ROOT/dist" && "$WORK" == "$ROOT/build" ]]; then
    rm -rf "$ROOT/build" "$ROOT/dist"
else
    rm -rf "$DIST/diffview" "$WORK/diffview"
fi

echo "building diffview with $("$PY" -c 'import PyInstaller, sys; print("PyInstaller", PyInstaller.__version__, "on Python", sys.version.split()[0])')"
start=$(date +%s)
"$PY" -m PyInstaller --noconfirm --clean --log-level WARN \
    --distpath "$DIST" --workpath "$WORK" "$ROOT/diffview.spec"
end=$(date +%s)

APP="$DIST/diffview"
EXE="$APP/diffview"
[[ -x "$EXE" ]] || EXE="$APP/diffview.exe"
echo "build time: $((end - start)) s"
echo "output folder: $APP"
echo "size: $(du -sh "$APP" | cut -f1) ($(find "$APP" -type f | wc -l) files)"
echo "run it: $EXE    (self-test: $EXE --self-test)"

if [[ "$SELF_TEST" == 1 ]]; then
    echo "running $EXE --self-test"
    QT_QPA_PLATFORM=offscreen "$EXE" --self-test
fi

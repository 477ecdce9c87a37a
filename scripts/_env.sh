# Shared by the scripts: where the Python >= 3.14.2 environment lives.
# Sourced, not run. Sets REPO, PYROOT (empty when the host Python is new enough) and VENV.
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# A Debian sid root with python3.14, for hosts whose Python is older than Home Assistant needs.
PYROOT_DIR="${PAI_PYROOT:-${XDG_CACHE_HOME:-$HOME/.cache}/pai-dev/sid-root}"

python_ok() {
  "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 14, 2) else 1)' >/dev/null 2>&1
}

find_host_python() {
  local candidate
  for candidate in "${PAI_PYTHON:-}" python3.14 python3.15 python3; do
    [ -n "$candidate" ] || continue
    if command -v "$candidate" >/dev/null 2>&1 && python_ok "$candidate"; then
      command -v "$candidate"
      return 0
    fi
  done
  return 1
}

if [ -x "$REPO/.venv/bin/python" ] && python_ok "$REPO/.venv/bin/python"; then
  PYROOT=""
  VENV="$REPO/.venv"
elif find_host_python >/dev/null && [ "${PAI_FORCE_PYROOT:-0}" != 1 ]; then
  PYROOT=""
  VENV="$REPO/.venv"
else
  PYROOT="$PYROOT_DIR"
  VENV="/opt/pai-venv"   # inside the root
fi

# The second environment: the newest Home Assistant release (requirements_ha_next.txt), or the
# version PAI_HA_VERSION names (a release or a beta). One virtualenv per version, beside the
# main one; `PAI_ENV=next scripts/run ...` runs a command in it.
HA_NEXT="${PAI_HA_VERSION:-$(sed -n 's/^homeassistant==\([^ ;]*\).*/\1/p' "$REPO/requirements_ha_next.txt")}"
if [ -z "$PYROOT" ]; then
  NEXT_VENV="$REPO/.venv-ha-$HA_NEXT"
else
  NEXT_VENV="/opt/pai-venv-$HA_NEXT"
fi
if [ "${PAI_ENV:-}" = next ]; then
  VENV="$NEXT_VENV"
fi

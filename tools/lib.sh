# Shared by the scripts in tools/: find the project, install missing system packages.
set -euo pipefail

PROJECT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# Installs the Debian packages given as arguments when any is missing (apt-get update first: a fresh
# machine has no package lists).
ensure_packages() {
    local missing=()
    for package in "$@"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "installing ${missing[*]} ..." >&2
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

ensure_build_dependencies() {
    ensure_packages liblmdb-dev pkg-config
    command -v swift >/dev/null || { echo "swift is not on PATH (Swift 6.1 or later is needed)" >&2; exit 1; }
}

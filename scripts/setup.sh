#!/usr/bin/env bash
# Installs what building and testing Coderoom needs on Debian 12: system packages (as root, or
# prints the exact sudo line and stops), the UI's npm packages, and the WebDriver bridge.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  build-essential pkg-config curl file
  libwebkit2gtk-4.1-dev libayatana-appindicator3-dev librsvg2-dev libssl-dev
  xvfb xauth webkit2gtk-driver
  mono-mcs mono-runtime
  iproute2
)

missing=()
for package in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -eq 0 ]]; then
    echo "setup: installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "setup: these Debian packages are missing. Install them, then run this again:"
    echo "  sudo apt-get install -y ${missing[*]}"
    exit 1
  fi
fi

for tool in cargo node npm; do
  command -v "$tool" >/dev/null || { echo "setup: $tool is not installed (Rust via rustup, Node.js 20+ with npm)"; exit 1; }
done

# npm ci wipes node_modules; skip it when the lock file has not changed since the last install.
if [[ ! -f ui/node_modules/.package-lock.json || ui/package-lock.json -nt ui/node_modules/.package-lock.json ]]; then
  echo "setup: npm ci in ui/"
  (cd ui && npm ci --no-audit --no-fund --loglevel=error)
fi

command -v tauri-driver >/dev/null || cargo install tauri-driver --locked --version 2.1.0
command -v cargo-nextest >/dev/null || cargo install cargo-nextest --locked
# Fuzzing: the machines' nightly toolchain and cargo-fuzz (make fuzz-short runs in the tests).
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
echo "setup: ready"

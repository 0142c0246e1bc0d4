#!/usr/bin/env bash
# Runs every check CI runs: formatting, clippy, the benchmarks built, and the
# whole test suite (unit, property, doc and the integration tests that start
# the real binary), the main suite last so its summary closes the output.
# Beyond the Rust toolchain the tests need ffmpeg and ffprobe (conversion,
# splash images, preview lengths), curl, yt-dlp, aws-cli and rclone,
# Chromium with playwright-core (npm) for the web UI, a venv with tuspy, a venv
# with PyOpenload, one with prometheus_client and one with BitDust's client
# (pyenv's Python 3.9.18), installed here when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

sudo=""
if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
apt_updated=""
apt_install() {
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "this system has no apt-get: install $* by hand" >&2
    exit 1
  fi
  if [ -z "$apt_updated" ]; then $sudo apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

if ! command -v ffmpeg >/dev/null 2>&1 || ! command -v ffprobe >/dev/null 2>&1; then
  apt_install ffmpeg
fi
# curl, run as another local user, is the client of the test that a local
# user uploads only what they could read.
if ! command -v curl >/dev/null 2>&1; then
  apt_install curl
fi
# ssh-keygen (OpenSSH) checks the RSA keys the node makes, as a user's
# own tools would read them.
if ! command -v ssh-keygen >/dev/null 2>&1; then
  apt_install openssh-client
fi

# aws-cli and rclone (Debian's) drive the S3 API in its tests.
if ! [ -x /usr/bin/aws ]; then
  apt_install awscli
fi
if ! command -v rclone >/dev/null 2>&1; then
  apt_install rclone
fi
export CAIRN_AWS=/usr/bin/aws CAIRN_RCLONE="$(command -v rclone)"

# The web UI's tests run in Debian's Chromium, driven by playwright-core
# (from npm, pinned by its lock file; it never downloads a browser).
if ! command -v chromium >/dev/null 2>&1; then
  apt_install chromium fonts-dejavu-core fonts-noto-color-emoji
fi
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  apt_install nodejs npm
fi
ui=crates/cli/tests/ui
if ! [ -d "$ui/node_modules/playwright-core" ]; then
  npm ci --prefix "$ui" --no-audit --no-fund --loglevel=error
fi
export CAIRN_CHROMIUM="$(command -v chromium)"

# tuspy, a tus client from PyPI, drives the resumable uploads in a test.
tus_venv=target/tuspy-venv
if ! "$tus_venv/bin/python" -c 'import tusclient' >/dev/null 2>&1; then
  rm -rf "$tus_venv"
  python3 -m venv "$tus_venv"
  "$tus_venv/bin/pip" install -q --disable-pip-version-check 'tuspy==1.1.0'
fi
export CAIRN_TUS_PYTHON="$PWD/$tus_venv/bin/python"

# PyOpenload, a real Openload client from PyPI, drives the Openload layer in
# one test. It needs urllib3 < 2, so it lives in its own venv.
venv=target/pyopenload-venv
if ! "$venv/bin/python" -c 'import openload' >/dev/null 2>&1; then
  python3 -m venv "$venv" >/dev/null 2>&1 || { apt_install python3-venv; python3 -m venv "$venv"; }
  "$venv/bin/pip" install -q --disable-pip-version-check pyopenload 'urllib3<2'
fi
export CAIRN_PYOPENLOAD_PYTHON="$PWD/$venv/bin/python"

# schemathesis (PyPI) fuzzes the native API against its document in the
# contract test; pinned, so a run is the same run everywhere.
st_venv=target/schemathesis-venv
if ! "$st_venv/bin/schemathesis" --version 2>/dev/null | grep -q ' 4.32.0$'; then
  python3 -m venv "$st_venv" >/dev/null 2>&1 || { apt_install python3-venv; python3 -m venv "$st_venv"; }
  "$st_venv/bin/pip" install -q --disable-pip-version-check 'schemathesis==4.32.0'
fi
export CAIRN_SCHEMATHESIS="$PWD/$st_venv/bin/schemathesis"

# openapi-python-client (PyPI) generates the typed client a test drives
# the node with, from the node's own document.
oc_venv=target/openapi-client-venv
if ! "$oc_venv/bin/openapi-python-client" --version 2>/dev/null | grep -q ' 0.29.1$'; then
  python3 -m venv "$oc_venv" >/dev/null 2>&1 || { apt_install python3-venv; python3 -m venv "$oc_venv"; }
  "$oc_venv/bin/pip" install -q --disable-pip-version-check 'openapi-python-client==0.29.1'
fi
export CAIRN_OPENAPI_CLIENT_BIN="$PWD/$oc_venv/bin"

# prometheus_client (PyPI), the Python client of Prometheus, parses the
# node's /metrics with its strict OpenMetrics parser in the metrics test;
# pinned, so a run is the same run everywhere.
prom_venv=target/prometheus-venv
if ! "$prom_venv/bin/python" -c 'import importlib.metadata as m, sys; sys.exit(m.version("prometheus_client") != "0.26.0")' >/dev/null 2>&1; then
  python3 -m venv "$prom_venv" >/dev/null 2>&1 || { apt_install python3-venv; python3 -m venv "$prom_venv"; }
  "$prom_venv/bin/pip" install -q --disable-pip-version-check 'prometheus_client==0.26.0'
fi
export CAIRN_PROM_PYTHON="$PWD/$prom_venv/bin/python"

# yt-dlp (PyPI; Debian's is from 2023) resolves web pages to their media
# for the media service; the node finds it on PATH.
yt_venv=target/ytdlp-venv
if ! "$yt_venv/bin/yt-dlp" --version 2>/dev/null | grep -q '^2026.11.23$'; then
  python3 -m venv "$yt_venv" >/dev/null 2>&1 || { apt_install python3-venv; python3 -m venv "$yt_venv"; }
  "$yt_venv/bin/pip" install -q --disable-pip-version-check 'yt-dlp==2026.11.23'
fi
export PATH="$PWD/$yt_venv/bin:$PATH"

# BitDust's own client (PyPI `bitdust` 0.1.24.265, which needs Python 3.9
# and builds Twisted 20.3.0 from source) drives the BitDust layer in one
# test; it lives in a venv of pyenv's Python 3.9.18.
bd_venv=target/bitdust-venv
if ! "$bd_venv/bin/python" -c 'import bitdust' >/dev/null 2>&1; then
  py39=""
  for p in "$(pyenv prefix 3.9.18 2>/dev/null)/bin/python" "${PYENV_ROOT:-$HOME/.pyenv}/versions/3.9.18/bin/python" /root/.pyenv/versions/3.9.18/bin/python; do
    if [ -x "$p" ]; then py39=$p; break; fi
  done
  if [ -z "$py39" ]; then
    echo "BitDust's client needs Python 3.9 (pyenv's 3.9.18): not found" >&2
    exit 1
  fi
  rm -rf "$bd_venv"
  "$py39" -m venv "$bd_venv"
  "$bd_venv/bin/pip" install -q --disable-pip-version-check 'bitdust==0.1.24.265'
fi
export CAIRN_BITDUST_BIN="$PWD/$bd_venv/bin/bitdust"

cargo fmt --all -- --check
bash scripts/layers.sh
cargo clippy --workspace --all-targets --locked -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked
cargo bench --workspace --locked --no-run
cargo test --workspace --locked --doc
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast
else
  cargo test --workspace --locked --no-fail-fast
fi

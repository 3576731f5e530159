#!/usr/bin/env bash
# Genlab's tests, from a fresh clone: system packages, a virtual environment, then pytest.
#   bash tests/run.sh            (the README's test command; .ci/run runs exactly this)
#   bash tests/run.sh -k latent  (arguments go to pytest)
# Idempotent: packages already installed and an up-to-date .venv are not installed again.
# Without root or apt-get, Chromium is not installed and the browser tests are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive PIP_DISABLE_PIP_VERSION_CHECK=1
started=$SECONDS
log() { printf '\n=== %s (%ds)\n' "$*" $((SECONDS - started)); }

# --- system packages: Chromium for the browser tests, Node for the playground's JavaScript tests
#     (the data the tests need is in data/)
APT_PACKAGES=(chromium nodejs)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})) && [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
  log "apt-get install ${missing[*]}"
  apt-get update -q
  apt-get install -y -q "${missing[@]}"
elif ((${#missing[@]})); then
  log "not installed: ${missing[*]} (needs root and apt-get); the tests that need them are skipped"
else
  log "system packages already installed: ${APT_PACKAGES[*]}"
fi

# --- Python environment: reinstalled only when the requirements files change
PYTHON=${PYTHON:-python3}
if [[ ! -x .venv/bin/python ]]; then
  log "creating .venv with $($PYTHON --version)"
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.genlab-requirements.sha256
wanted=$(cat requirements.txt requirements-dev.txt | sha256sum | cut -d' ' -f1)
if [[ ! -f $stamp || "$(cat "$stamp")" != "$wanted" ]]; then
  log "pip install -r requirements-dev.txt"
  .venv/bin/python -m pip install -q -r requirements-dev.txt
  echo "$wanted" > "$stamp"
else
  log ".venv is up to date with requirements*.txt"
fi
.venv/bin/python -c 'import torch, gradio; print("torch", torch.__version__, "| gradio", gradio.__version__)'

# --- the tests: exactly the README's command (options live in pytest.ini)
log "pytest"
status=0
.venv/bin/python -m pytest "$@" || status=$?
if ((status == 5)); then
  echo "error: pytest collected no tests" >&2
fi
log "done, pytest exit status $status"
exit "$status"

# Shared by scripts/start and scripts/test: make .venv and install the project into it, only
# when pyproject.toml changed since the last install.
ensure_venv() {
  local extras="$1"
  local python="${PYTHON:-python3}"
  if [ ! -x .venv/bin/python ]; then
    echo "Creating a virtual environment in .venv (Python: $("$python" --version))"
    "$python" -m venv .venv
  fi
  local stamp=".venv/.installed-$(echo "$extras" | tr -c 'a-z' '_')"
  local want
  want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "Installing the dashboard and its dependencies ($extras)..."
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -e "$extras"
    echo "$want" > "$stamp"
  fi
}

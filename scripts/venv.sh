# Sourced by run.sh and run_tests.sh: create .venv at the repo root if missing and install a requirements file,
# only when it (or a file it includes) changed since the last install.  Usage: ensure_venv requirements/X.txt
ensure_venv() {
  local requirements=$1 stamp
  if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
    .venv/bin/python -m pip install --quiet --upgrade pip
  fi
  stamp=".venv/.installed-$(basename "$requirements" .txt)"
  if [ ! -f "$stamp" ] || [ -n "$(find requirements -newer "$stamp" -name '*.txt')" ]; then
    .venv/bin/python -m pip install --quiet -r "$requirements"
    touch "$stamp"
  fi
}

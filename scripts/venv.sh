# Sourced by run.sh, run_tests.sh and run_system_tests.sh: make sure .venv at the repo root is a working Python 3.11+
# environment, and install a requirements file into it only when it (or a file it includes) changed since its last
# successful install.  Usage: ensure_venv requirements/X.txt
# PYTHON names the interpreter that builds .venv (default: python3); it must be Python 3.11 or newer.
# A .venv left broken by an earlier attempt is deleted and built again: its python is missing or does not run, is
# older than 3.11, has no pip (`python -m venv` failed half-way), or no requirements install into it ever completed.
# Failures end with one line on stderr that says what to do.

_venv_say() { echo "${0##*/}: $*" >&2; }

# Succeeds when the interpreter $1 runs and is Python 3.11 or newer.
_venv_python_ok() { "$1" -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1; }

# Prints why .venv cannot be used as it is ("missing" when there is none); prints nothing when it can.
_venv_problem() {
  if [ ! -e .venv ] && [ ! -L .venv ]; then
    echo missing
  elif [ ! -x .venv/bin/python ]; then
    echo "it has no python (a dangling link or an interrupted python -m venv)"
  elif ! .venv/bin/python -c '' >/dev/null 2>&1; then
    echo "its python does not run"
  elif ! _venv_python_ok .venv/bin/python; then
    echo "its python is $(.venv/bin/python -V 2>&1), 3.11 or newer is needed"
  elif ! .venv/bin/python -c 'import pip' >/dev/null 2>&1; then
    echo "it has no pip (python -m venv failed half-way)"
  elif ! compgen -G '.venv/.installed-*' >/dev/null; then
    echo "no requirements install into it ever completed"
  fi
}

ensure_venv() {
  local requirements=$1 python=${PYTHON:-python3} problem stamp
  problem=$(_venv_problem)
  if [ -n "$problem" ]; then
    if ! command -v "$python" >/dev/null 2>&1; then
      _venv_say "Python 3.11 or newer is needed to build .venv, and $python was not found (set PYTHON=/path/to/python3)"
      return 1
    fi
    if ! "$python" -c '' >/dev/null 2>&1; then
      _venv_say "Python 3.11 or newer is needed to build .venv, and $python does not run:" \
        "$("$python" -c '' 2>&1 | head -n 1) (set PYTHON=/path/to/python3.11 or newer)"
      return 1
    fi
    if ! _venv_python_ok "$python"; then
      _venv_say "Python 3.11 or newer is needed to build .venv; $python is $("$python" -V 2>&1 | head -n 1)" \
        "(set PYTHON=/path/to/python3.11 or newer)"
      return 1
    fi
    [ "$problem" = missing ] || _venv_say "rebuilding .venv: $problem"
    rm -rf .venv
    if ! "$python" -m venv .venv; then
      rm -rf .venv
      _venv_say "$python -m venv .venv failed (on Debian or Ubuntu: apt install python3-venv, or python3.X-venv)"
      return 1
    fi
    if ! .venv/bin/python -m pip install --quiet --upgrade pip; then
      _venv_say "upgrading pip in .venv failed (see pip's message above); run ${0##*/} again to retry"
      return 1
    fi
  fi
  stamp=".venv/.installed-$(basename "$requirements" .txt)"
  if [ ! -f "$stamp" ] || [ -n "$(find requirements -newer "$stamp" -name '*.txt')" ]; then
    if ! .venv/bin/python -m pip install --quiet -r "$requirements"; then
      _venv_say "installing $requirements into .venv failed (see pip's message above); run ${0##*/} again to retry"
      return 1
    fi
    touch "$stamp"
  fi
}

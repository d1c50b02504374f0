#!/usr/bin/env bash
# Print the path of a Python >= 3.12 interpreter: python3.13/python3.12/python3 on PATH,
# then pyenv-installed versions (newest first). Each candidate is run, because a pyenv
# shim exists even where it refuses to run. Exit 1 with a hint if there is none.
set -u
ok() { "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' >/dev/null 2>&1; }
for name in python3.14 python3.13 python3.12 python3; do
  if command -v "$name" >/dev/null 2>&1 && ok "$name"; then
    "$name" -c 'import sys; print(sys.executable)'
    exit 0
  fi
done
roots=()
command -v pyenv >/dev/null 2>&1 && roots+=("$(pyenv root)")
roots+=("${PYENV_ROOT:-$HOME/.pyenv}")
for root in "${roots[@]}"; do
  [ -d "$root/versions" ] || continue
  for dir in $(ls -1 "$root/versions" | grep -E '^3\.[0-9]+\.[0-9]+$' | sort -t. -k1,1nr -k2,2nr -k3,3nr); do
    candidate="$root/versions/$dir/bin/python3"
    if [ -x "$candidate" ] && ok "$candidate"; then
      echo "$candidate"
      exit 0
    fi
  done
done
echo "No Python >= 3.12 found. Install one, e.g. 'sudo apt-get install python3' on Debian 13 /" \
     "Ubuntu 24.04, or 'pyenv install 3.12'." >&2
exit 1

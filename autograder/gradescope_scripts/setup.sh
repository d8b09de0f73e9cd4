#!/usr/bin/env bash
# Gradescope runs this once, as root, in /autograder/source when it builds the autograder's
# image (default base image: Ubuntu 22.04; Gradescope runs `apt-get update` first).
# It installs what autograder/gradescope_run.py needs:
#   - Python 3.11 (Ubuntu 22.04's own python3 is 3.10; 3.11 is in its universe component),
#   - a venv outside /autograder/source with the pinned packages of requirements.txt: the
#     unprivileged uid that runs student code must be able to read it, and the source not,
#   - bubblewrap (the sandbox) and util-linux (prlimit, setpriv).
set -euo pipefail
cd "$(dirname "$0")"
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends python3.11 python3.11-venv bubblewrap util-linux
# Chapters that train on Fashion-MNIST read it from /usr/share/datasets/fashion-mnist (Debian's
# dataset-fashion-mnist); where the image has no such package, copy the data there by hand.
apt-get install -y --no-install-recommends dataset-fashion-mnist \
    || echo "note: no dataset-fashion-mnist package; chapters that train on it need the data in /usr/share/datasets/fashion-mnist"
python3.11 -m venv /opt/minimx-grader
/opt/minimx-grader/bin/pip install --no-cache-dir -r requirements.txt
chmod -R a+rX /opt/minimx-grader
# The source stays root's alone (run_autograder checks this again before every submission).
chmod -R go-rwx .

#!/usr/bin/env bash
# Run `ansible-test sanity` on the collection as users get it: build the tarball,
# install it into ansible_collections/promptlib/rollback under a temporary folder
# and run the tests there, in virtual environments that ansible-test creates.
#
# ansible-test bootstraps pip into those environments with a get-pip.py that it
# downloads from its own CI file server. Where only the package index can be
# reached, tools/get_pip_offline.py takes its place in ansible-test's cache. The
# cache and the environments live in a private HOME (.cache/ansible-test-home),
# so ~/.ansible of the user is left alone.
#
# Usage: tools/sanity.sh [extra ansible-test sanity arguments]
# SANITY_PYTHON selects the Python version (default 3.11).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
python_version=${SANITY_PYTHON:-3.11}
test_home=${ANSIBLE_TEST_HOME:-$root/.cache/ansible-test-home}

work=$(mktemp -d "${TMPDIR:-/tmp}/promptlib-sanity.XXXXXX")
trap 'rm -rf "$work"' EXIT

ansible-galaxy collection build --output-path "$work/dist" "$root" >/dev/null
# Without ANSIBLE_CONFIG the checkout's ansible.cfg is not read, so the link in
# .collections does not count as an installed copy.
env -u ANSIBLE_CONFIG ANSIBLE_COLLECTIONS_PATH="$work/tree" \
  ansible-galaxy collection install --force -p "$work/tree" "$work"/dist/*.tar.gz >/dev/null

ansible_test_dir=$(python3 -c 'import ansible_test, os; print(os.path.dirname(ansible_test.__file__))')
pip_version=$(grep -oP "^\s*pip='\K[0-9.]+" "$ansible_test_dir/_internal/python_requirements.py")
mkdir -p "$test_home/.ansible/test/cache"
cp "$root/tools/get_pip_offline.py" "$test_home/.ansible/test/cache/get_pip_${pip_version//./_}.py"

cd "$work/tree/ansible_collections/promptlib/rollback"
env -u ANSIBLE_CONFIG HOME="$test_home" \
  ansible-test sanity --venv --python "$python_version" --color no "$@"

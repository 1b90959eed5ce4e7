# Copyright: promptlib.rollback developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bootstrap pip into an empty virtual environment without downloading get-pip.py.

ansible-test creates its sanity test environments without pip and then runs a
get-pip.py script that it downloads from its own CI file server, or takes from
~/.ansible/test/cache/get_pip_<version>.py when that file exists. Where only the
package index is reachable, tools/sanity.sh copies this file to that cache path.
It installs pip from the interpreter's bundled ensurepip wheel and then installs
the packages that ansible-test passes as arguments (the pinned pip, setuptools
and wheel) from the package index.
"""

from __future__ import annotations

import subprocess
import sys


def main() -> None:
    subprocess.check_call([sys.executable, '-m', 'ensurepip', '--default-pip'])
    subprocess.check_call([sys.executable, '-m', 'pip', 'install', '--quiet'] + sys.argv[1:])


if __name__ == '__main__':
    main()

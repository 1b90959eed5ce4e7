# -*- coding: utf-8 -*-
# Copyright: promptlib.rollback developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    """Connection options shared by the modules that run the PostgreSQL client tools."""

    DOCUMENTATION = r'''
options:
  login_host:
    description:
      - Host name or IP address of the PostgreSQL server, or the folder that contains its Unix-domain socket.
      - When not set, the client tools connect through the default Unix-domain socket of the host.
    type: str
    version_added: 0.1.0
  login_port:
    description:
      - TCP port of the server, or the number in the name of its Unix-domain socket file.
    type: int
    default: 5432
    version_added: 0.1.0
  login_user:
    description:
      - Role to connect as.
      - When not set, the client tools connect as the operating system user that runs the module,
        so becoming the C(postgres) user with peer authentication works without a password.
    type: str
    version_added: 0.1.0
  login_password:
    description:
      - Password of O(login_user).
      - It reaches the client tools through the E(PGPASSWORD) environment variable and never appears in
        their command line or in the returned commands.
    type: str
    version_added: 0.1.0
  maintenance_db:
    description:
      - Database to connect to for queries and statements that act on other databases,
        such as C(ALTER DATABASE) and C(createdb).
    type: str
    default: postgres
    version_added: 0.1.0
requirements:
  - The PostgreSQL client tools (C(psql), C(pg_dump), C(pg_restore), C(createdb), C(dropdb)) on the managed host.
notes:
  - The client tools run with E(LANG=C), E(PGAPPNAME=promptlib-rollback) and a connect timeout of 10 seconds,
    and never prompt for a password.
'''

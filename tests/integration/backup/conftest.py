from __future__ import annotations

from collections.abc import Iterator

import pytest

from bangka_ops.backup import dbservers
from tests.integration.backup import dbhosts


@pytest.fixture(scope="session")
def pg_server() -> Iterator[dbservers.PostgreSQL]:
    with dbhosts.postgresql() as server:
        yield server


@pytest.fixture(scope="session")
def maria_server() -> Iterator[dbservers.MariaDB]:
    with dbhosts.mariadb() as server:
        yield server


@pytest.fixture(scope="session")
def restore_user() -> str:
    """The unprivileged OS user a restore host loads clients' dumps as (the role
    borg_restore_test creates it on a real restore host)."""
    return dbhosts.ensure_os_user("bangka-dbrestore")

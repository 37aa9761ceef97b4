"""The real action server, made to stop dead just before a case is committed.

Used by tests/test_crash_safety.py: when a unit of work is about to commit a
new case, this touches the file named by CRASH_MARKER and then sleeps, so the
test can SIGKILL the process between "rows written" and "committed".
"""

import os
import sys
import time
from pathlib import Path

from records.adapters.unit_of_work import SqlAlchemyUnitOfWork as UnitOfWork

_original_commit = UnitOfWork.commit


def _commit_then_hang(self):
    if self.cases.seen:
        self.session.flush()  # the rows are written inside the open transaction …
        Path(os.environ["CRASH_MARKER"]).touch()
        time.sleep(120)  # … and the process is killed here, before COMMIT
    _original_commit(self)


UnitOfWork.commit = _commit_then_hang

if __name__ == "__main__":
    from xiangyin.cli import main

    sys.exit(main(["actions", "--port", sys.argv[1]]))

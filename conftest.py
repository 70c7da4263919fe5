"""pytest set-up shared by the unit tests and the notebooks run under nbval.

Notebook kernels inherit this process's environment (nbval cannot pass parameters), so the defaults
for the data location and the lab preset are set here, before any kernel starts:
``SCHED_LIB_DATA`` defaults to ``../shared/data/cifar10`` beside the checkout when that folder exists, and
``SCHED_LIB_PRESET`` defaults to ``smoke`` (the CI-sized preset). Both can be overridden from the shell.
"""

import os
from pathlib import Path

_shared = Path(__file__).resolve().parent.parent / "shared" / "data" / "cifar10"
if _shared.is_dir():
    os.environ.setdefault("SCHED_LIB_DATA", str(_shared))
os.environ.setdefault("SCHED_LIB_PRESET", "smoke")

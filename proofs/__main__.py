"""`python -m proofs`: the same as `sel4spec prove`."""

import sys

from proofs.cli import module_main

sys.exit(module_main())

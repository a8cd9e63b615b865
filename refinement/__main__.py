"""`python -m refinement` is `sel4spec refine`."""

import sys

from refinement.cli import main

sys.exit(main(sys.argv[1:]))

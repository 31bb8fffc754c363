"""``python -m tests.bench [--quick] [--out FILE]`` (what ``docmesh bench`` runs)."""

import sys

from tests.bench.run import main

main(sys.argv[1:])

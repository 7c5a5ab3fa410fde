"""modelenv's tests.

Where PYTHONDONTWRITEBYTECODE is set (this machine sets it), every pytest-xdist
worker would compile modelenv's modules and rewrite the asserts of every test
module again: 3.7 s of CPU per worker, 1.4 s with cached bytecode. The test
processes themselves keep their bytecode under their venv (never beside the
sources). The processes they start inherit the setting unchanged: a cache
kept by path would outlive environments rebuilt at the same path, and the
tiny wheels' files have the same size and time in every version.
"""

import os
import sys

if sys.dont_write_bytecode and sys.prefix != sys.base_prefix:
    sys.pycache_prefix = os.path.join(sys.prefix, "pycache")
    sys.dont_write_bytecode = False

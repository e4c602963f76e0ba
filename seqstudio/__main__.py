"""``python -m seqstudio``: the same as the ``seqstudio`` command (torchrun starts it so: ``-m seqstudio``)."""

import sys

from seqstudio.cli import main

if __name__ == "__main__":
    sys.exit(main())

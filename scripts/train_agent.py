"""Train an agent on a wrapped env: the same as ``darla train`` (see ``--help``)."""

import sys

from darla.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))

"""DARLA's whole experiment in one command: the same as ``darla reproduce`` (see ``--help``)."""

import sys

from darla.cli import main

if __name__ == "__main__":
    sys.exit(main(["reproduce", *sys.argv[1:]]))

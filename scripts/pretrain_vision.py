"""Pretrain a vision model: the same as ``darla pretrain`` (see ``--help``)."""

import sys

from darla.cli import main

if __name__ == "__main__":
    sys.exit(main(["pretrain", *sys.argv[1:]]))

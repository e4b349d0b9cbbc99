"""Evaluate frozen agents zero-shot in other domains: the same as ``darla evaluate`` (see ``--help``)."""

import sys

from darla.cli import main

if __name__ == "__main__":
    sys.exit(main(["evaluate", *sys.argv[1:]]))

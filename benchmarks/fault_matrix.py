"""The fault matrix at size: print the counts (deliveries, posts per account, duplicates, losses).

    python benchmarks/fault_matrix.py [TRIALS] [PER_PLATFORM]

Each trial: webhook, Mastodon and WeChat fakes over real HTTP, 30 % of
requests failing at random, a proxy that cuts 2 % of forwarded chunks, two
SIGKILLs of the client mid-run, re-runs until settled and a clean last run.
Exit status 1 if any trial posted twice, lost a post, or left one failed.
"""

import sys

from govmedia.testing.faultrun import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

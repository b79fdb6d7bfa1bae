"""A script named as a transform by mistake: importing it runs its command line, which exits."""
import sys

sys.exit("usage: transform_script_that_exits.py FILE")


def scrub(event):  # never reached
    return event

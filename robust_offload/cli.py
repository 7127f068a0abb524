"""Command-line entry point ``robust-offload``."""

import argparse


def main(argv=None):
    parser = argparse.ArgumentParser(prog="robust-offload")
    parser.parse_args(argv)
    return 0

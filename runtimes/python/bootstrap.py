"""Nimbus Python runtime entry point: /usr/bin/python3 -S bootstrap.py.

Everything lives in _nimbus_runtime.py beside this file: a main script is
compiled on every start, an imported module is loaded from its cached
bytecode. Standard library only; see notes/RUNTIMES.md for the contract.
"""
import sys

from _nimbus_runtime import main

sys.exit(main())

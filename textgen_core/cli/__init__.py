"""The `textgen` command line (`main`), its flags (`train_flags`, `data_flags`) and
the bundled demo (`demo`). Parses arguments and prints; the work is in the library.

May import: everything.
"""

"""The `textgen` command line: the entry point (`main`), the parser (`parser`),
what each command does (`commands`), flags derived from the settings (`flags`,
`train_flags`, `data_flags`) and the bundled demo (`demo`). Parses arguments and
prints; the work is in the library.

May import: everything.
"""

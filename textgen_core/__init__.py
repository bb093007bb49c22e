"""textgen: fine-tune a small language model on your own text, evaluate it honestly,
and generate from it.

The Python API is `textgen_core.api`; this file stays import-light so that
`textgen --help` does not pull in torch.
"""

from textgen_core.errors import TextgenError

__all__ = ["TextgenError"]
__version__ = "0.1.0"

"""llama.cpp's convert_hf_to_gguf.py with one addition, run by `converter` in its own
process and never imported by textgen: `python llama_cpp_convert.py CONVERTER_DIR
ARGS...`, where ARGS are the converter's own.

The addition: Gemma 3's layer types. llama.cpp reads which layers use sliding-window
attention from `gemma3.attention.sliding_window_pattern` and otherwise assumes the
published models' pattern (five sliding layers, then a full one); the converter
writes that key for Gemma 3n only. A Gemma 3 model with other layer types (any
tiny or pruned one) would load and attend differently past the window, so the
pattern is written from the config's `layer_types`, as the converter does for 3n.
"""

import sys
from pathlib import Path


def main() -> None:
    folder = Path(sys.argv.pop(1))
    # The converter's folder replaces this one (textgen's modules are no top-level
    # names), and its gguf-py comes before PyPI's gguf.
    sys.path[0:1] = [str(folder), str(folder / "gguf-py")]
    import convert_hf_to_gguf
    from conversion.gemma import Gemma3Model

    published = Gemma3Model.set_gguf_parameters

    def set_gguf_parameters(self) -> None:
        published(self)
        layer_types = self.hparams.get("layer_types")
        if layer_types:
            pattern = [kind == "sliding_attention" for kind in layer_types]
            self.gguf_writer.add_sliding_window_pattern(pattern)

    Gemma3Model.set_gguf_parameters = set_gguf_parameters
    convert_hf_to_gguf.main()


if __name__ == "__main__":
    main()

"""Documents out of formats that are not plain text: Word, OpenDocument, PDF,
EPUB, HTML, subtitles.

Each format is one small module with one function, `extract(path) ->
Extracted` (the texts of its documents, in order, and what kind of file it
is), raising TextgenError with the reason when the file can't give text.
`registry.py` maps file extensions (and sniffed contents) to those modules and
runs them in a separate process under a time and memory cap (`sandbox.py`),
so a hostile file costs only itself.

May import: `textgen_core.errors`, `textgen_core.data.decoding`.
"""

"""Your text in: files and `datasets` rows become documents (`ingest`; one file
at a time by `scan`, judged by its bytes in `decoding` and `magic`, documents
extracted by `extract/`, zip archives by `archive`; `hub_datasets`), documents
become token arrays (`tokens`), token arrays become train/validation/test
chunks (`prepare`), kept in a content-addressed cache (`cache`); `file_table`
says what became of each file.

May import: `textgen_core.config`, `textgen_core.errors`.
"""

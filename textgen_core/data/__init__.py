"""Your text in: files and `datasets` rows become documents (`ingest`, `decoding`,
`hub_datasets`), documents become token arrays (`tokens`), token arrays become
train/validation/test chunks (`prepare`), kept in a content-addressed cache (`cache`).

May import: `textgen_core.config`, `textgen_core.errors`.
"""

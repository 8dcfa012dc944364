"""Data in and out of every stage: records, files, images, prompts, pairs (docs/formats.md).

- `files`: JSONL reading with file/line errors, append-only writing, atomic JSON, writable folders
- `records`: MathVista-schema benchmark and prompt records
- `images`: opening images (paths, bytes, PIL) with errors that name the record
- `prompts`: the prompt texts (CoT, boxed, direct) sampling and evaluation share
- `chat`: prompts in the model's chat layout, batch encoding, stop tokens
- `pairs`: preference pairs from MMPR, TRL and JSONL files

Light to import: no torch or transformers at module level.
"""

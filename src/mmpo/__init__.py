"""mmpo: Mixed Preference Optimization for vision-language models.

Stages (each a `mmpo` subcommand, talking through files on disk):
synth -> sample -> pairs -> train -> eval -> report, and `demo` for all of them.

Importing this package stays light: no torch, no transformers. Heavy engines are imported
inside the functions that need them.
"""

__version__ = "0.1.0"

"""The evaluation stages (`mmpo eval`, `mmpo report`): direct vs chain-of-thought, and comparisons.

- `run`: `run_eval(...)` and `evaluate_model(...)`, predictions and scores, resumable
- `generate`: batched greedy generation
- `report`: tables, paired comparisons, the files `mmpo report` writes
- `plots`: the direct-vs-CoT figure and training curves
- `stats`: Wilson and paired-bootstrap intervals
"""

"""The pairs stage (`mmpo pairs`): preference pairs from sampled responses, in the MMPR layout.

- `build`: `build_pairs(samples, out_dir)`, correctness, format and DropoutNTP pairs + stats
- `samples`: reading and validating `mmpo sample` output
"""

"""The sampling stage (`mmpo sample`): N chains of thought per prompt, labelled by answer.

- `run`: `run_sampling(SampleOptions(...))`, the resumable, shardable file-to-file stage
- `prefill`: `draw_samples`, N samples per prompt from one prefill (prefill reuse)
"""

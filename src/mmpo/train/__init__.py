"""The training stage (`mmpo train`): MPO and its loss family on vision-language models.

- `run`: `run_training(MPOConfig(...))`, model and pairs in, a loadable checkpoint out
- `config`: `MPOConfig`, every setting, validated
- `trainer`: `MPOTrainer`, the one `transformers.Trainer` subclass
- `losses`: the losses as pure functions of log-probs (docs/loss.md)
- `logps`: the preference log-probs, shared-prefix and plain (docs/shared-prefix.md)
- `collate`: batches of pairs (chat template, images, truncation)
- `reference`: the reference policy in every mode, and its precomputed log-probs
- `policy`: dropout off, LoRA, frozen vision tower
- `length_groups`: length-grouped batches
"""

"""Recipes that make the demo's start models (supervised, before any preference stage).

- `digits`: the tiny base model trained from scratch to read digits (`mmpo demo --from-scratch`)
- `smol_align`: the vision tower and projector for the frozen SmolLM2 (`mmpo model smol --alignment`)
- `sft`: what both share (example texts, the SFT collator, the learning-rate shape)
"""

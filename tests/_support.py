"""Which families the TRL parity test runs, shared by that test and the README support-table check.

Both preference forwards on the families TRL tests its own vision trainers on (plus LLaVA); the
shared prefix, mmpo's default, on the rest. PaliGemma is left out: TRL encodes completions through
the processor without images, which PaliGemma's processor refuses.
"""

TRL_BOTH_FORWARDS = ("llava", "qwen2_vl", "qwen2_5_vl", "gemma3", "smolvlm")
TRL_SHARED_PREFIX_ONLY = ("llava_next", "llava_onevision", "qwen3_vl", "internvl", "idefics3", "mistral3", "glm4v")
TRL_PARITY_ARCHS = TRL_BOTH_FORWARDS + TRL_SHARED_PREFIX_ONLY
# Families whose greedy `mmpo eval --engine vllm` tests/engines checks against the HF engine (qwen2_vl
# through the shared server, the others through `--engine vllm`).
ENGINE_SHARED_SERVER_ARCH = "qwen2_vl"
ENGINE_OWN_SERVER_ARCHS = ("llava", "internvl")
ENGINE_TESTED_ARCHS = (ENGINE_SHARED_SERVER_ARCH, *ENGINE_OWN_SERVER_ARCHS)

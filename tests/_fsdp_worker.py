"""One rank of an FSDP2 (torch `fully_shard`) MPO run on CPU, for tests/train/test_fsdp.py.

    torchrun --standalone --nproc_per_node 2 tests/_fsdp_worker.py MODEL_DIR PAIRS OUT REF_MODE
    python tests/_fsdp_worker.py MODEL_DIR PAIRS OUT REF_MODE          # the 1-process reference run

accelerate refuses FSDP on a CPU-only machine, so this drives mmpo's own pieces directly: the
collator, the preference forward (through the sharded model's own forward call), the reference
(copy: a second sharded model; precomputed: values from the unsharded start model), the MPO terms
with the step-wide SFT normaliser, and SGD. Each rank takes its half of every batch. Rank 0
writes OUT/result.json (per-step loss, rewards, mechanism) and OUT/model/ (a full Hugging Face
checkpoint gathered from the shards).
"""

import json
import os
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))

STEPS, BATCH = 3, 4


def main(model_dir: str, pairs_path: str, out: str, ref_mode: str) -> None:
    import torch.distributed as dist

    from mmpo.data.pairs import load_pairs
    from mmpo.models import load_model
    from mmpo.train.collate import PairCollator
    from mmpo.train.logps import preference_logps
    from mmpo.train.losses import MPO_LOSS, MPO_WEIGHTS, compute_term
    from mmpo.train.policy import disable_dropout

    torch.set_num_threads(1)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1:
        dist.init_process_group("gloo")
    rank = dist.get_rank() if world > 1 else 0
    torch.manual_seed(0)
    model, processor = load_model(model_dir)
    disable_dropout(model)
    pairs = load_pairs(pairs_path).pairs
    collate = PairCollator(processor)
    # Reference values from the unsharded start model, as ref_model: precomputed holds them.
    with torch.no_grad():
        start = [preference_logps(model, collate(pairs[i:i + BATCH])) for i in range(0, STEPS * BATCH, BATCH)]
    ref = None
    if ref_mode == "copy":
        ref, _ = load_model(model_dir)
        disable_dropout(ref)
        ref.requires_grad_(False)
    if world > 1:
        from torch.distributed.fsdp import fully_shard

        for m in (model, ref):
            if m is None:
                continue
            for layer in list(m.model.language_model.layers):
                fully_shard(layer)
            fully_shard(m)
    model.train()
    # SGD: the weights then differ by lr x the gradient difference (Adam would turn the rounding noise
    # of near-zero gradients into full-size steps, as in any two runs that sum in another order).
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    logs = []
    for step in range(STEPS):
        batch_pairs = pairs[step * BATCH:(step + 1) * BATCH]
        mine = slice(rank * BATCH // world, (rank + 1) * BATCH // world)
        batch = collate(batch_pairs[mine])
        policy = preference_logps(model, batch)
        if ref_mode == "copy":
            with torch.no_grad():
                r = preference_logps(ref, batch)
            rc, rr = r["chosen_logps"], r["rejected_logps"]
        else:
            rc, rr = start[step]["chosen_logps"][mine], start[step]["rejected_logps"][mine]
        tokens = policy["chosen_tokens"].sum().float()
        if world > 1:  # the step-wide SFT normaliser: all ranks' chosen tokens, as MPOTrainer's default
            dist.all_reduce(tokens)
        loss = 0.0
        for name, weight in zip(MPO_LOSS, MPO_WEIGHTS):
            loss = loss + weight * compute_term(
                name, policy_chosen_logps=policy["chosen_logps"], policy_rejected_logps=policy["rejected_logps"],
                ref_chosen_logps=rc, ref_rejected_logps=rr, chosen_tokens=policy["chosen_tokens"],
                rejected_tokens=policy["rejected_tokens"], beta=0.1, sft_num_tokens=tokens / world)
        opt.zero_grad()
        loss.backward()  # FSDP2 averages the gradients across ranks: the full batch's mean
        opt.step()
        stats = torch.stack([loss.detach(), (0.1 * (policy["chosen_logps"].detach() - rc)).mean()])
        if world > 1:
            dist.all_reduce(stats)
            stats /= world
        logs.append({"loss": stats[0].item(), "rewards/chosen": stats[1].item(), "mechanism": policy["mechanism"]})
    if world > 1:
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

        full = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    else:
        full = model.state_dict()
    if rank == 0:
        fresh, _ = load_model(model_dir)
        fresh.load_state_dict(full)
        fresh.save_pretrained(Path(out) / "model")
        processor.save_pretrained(Path(out) / "model")
        (Path(out) / "result.json").write_text(json.dumps({"world_size": world, "logs": logs}))
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()


if __name__ == "__main__":
    main(*sys.argv[1:5])

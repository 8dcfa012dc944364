"""One rank of a data-parallel MPO run, for tests/train/test_distributed.py (torchrun, gloo, CPU).

    torchrun --standalone --nproc_per_node 2 tests/_dist_worker.py MODEL_DIR PAIRS OUT BATCH_PER_RANK [REF_MODEL]

Rank 0 writes OUT/result.json (the per-step logs, the final reward-shift state, run_info.json's
content) and OUT/final.safetensors (the trained weights).
"""

import json
import os
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from _mpo_data import step_logs, train_args  # noqa: E402


def main(model_dir: str, pairs: str, out: str, batch: int, ref_model: str = "auto") -> None:
    torch.set_num_threads(1)
    from mmpo.data.pairs import load_pairs
    from mmpo.models import load_model
    from mmpo.train.collate import PairDataset
    from mmpo.train.trainer import MPOTrainer

    model, processor = load_model(model_dir)
    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    args = train_args(out, per_device_train_batch_size=batch, max_steps=3,
                      ddp_backend="gloo" if distributed else None, ref_model=ref_model)
    trainer = MPOTrainer(model, args, train_dataset=PairDataset(load_pairs(pairs)), processing_class=processor)
    trainer.train()
    if trainer.args.process_index == 0:
        from safetensors.torch import save_file

        result = {"world_size": trainer.args.world_size, "logs": step_logs(trainer.state.log_history),
                  "reward_shift": trainer.reward_shift.state_dict(), "holds_reference": trainer.reference.model
                  is not None, "run_info": json.loads((Path(out) / "run_info.json").read_text())}
        (Path(out) / "result.json").write_text(json.dumps(result))
        final = trainer.accelerator.unwrap_model(trainer.model)
        save_file({k: v.detach().contiguous() for k, v in final.state_dict().items()}, str(Path(out) / "final.safetensors"))
    from mmpo.train.run import finish_distributed

    finish_distributed()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), *sys.argv[5:])

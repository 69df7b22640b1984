"""Which process writes: the same training code with one process or under `accelerate launch`.

    ranks = Ranks.from_args(args)        # after build_dpo_args: the process group exists now
    if ranks.is_main:
        write_shared_file(...)
    ranks.barrier()                      # the other ranks wait until the file is there

Every rank runs the whole of `prefdata train`. A file in the output dir written by every rank
races (two ranks renaming one temp file -> FileNotFoundError on rank 1), so shared files are
written by the main process only and the others wait at a barrier. With one process both
calls are free: `is_main` is True and `barrier` returns at once.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass
class Ranks:
    index: int = 0
    count: int = 1
    _state: object = None

    @classmethod
    def from_args(cls, args) -> "Ranks":
        """The ranks of this run, from TRL's config (which sets up the process group on first use)."""
        args.device  # noqa: B018 - TrainingArguments initialises accelerate's PartialState (gloo on CPU) here
        state = args.distributed_state
        if state is None:  # sagemaker model parallel only: treat as one process
            return cls()
        return cls(state.process_index, state.num_processes, state)

    @property
    def is_main(self) -> bool:
        return self.index == 0

    def barrier(self) -> None:
        """Every rank waits here until all have arrived (a no-op with one process)."""
        if self.count > 1:
            self._state.wait_for_everyone()


def launched_rank() -> int:
    """This process's rank as `accelerate launch`/torchrun set it (0 when not launched)."""
    return int(os.environ.get("RANK", os.environ.get("LOCAL_RANK", 0)))

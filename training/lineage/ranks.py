"""Data-parallel ranks on one machine: the processes, the gloo group, and what they agree on each step.

Rank 0 is the calling process, so it keeps its pid file, signal handlers and log; ranks
1.. are spawned (torch.multiprocessing, "spawn") and meet it through a TCP store on
127.0.0.1 at a port the system picks free. Each step the ranks agree on three things with
one all-reduce: whether to stop (any rank was asked to), whether to save (rank 0's clock
decides; every rank must round its optimiser moments at the same step, see
LineageState.round_moments) and how many positive priors the whole batch holds (the loss
divides by it, so the summed gradient equals one process's over the same images).
"""
import datetime
import time
from contextlib import contextmanager

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.nn.parallel import DistributedDataParallel

HOST = "127.0.0.1"
# A collective waits for the slowest rank's step; at nice 19 beside a build a step can take a minute.
COLLECTIVE_TIMEOUT = datetime.timedelta(minutes=10)


class RankGroup:
    """This process's place among the ranks; with one rank nothing is communicated."""

    def __init__(self, rank: int = 0, world_size: int = 1):
        self.rank, self.world_size = rank, world_size

    @property
    def is_main(self) -> bool:
        """Rank 0 alone saves, logs and keeps the EMA."""
        return self.rank == 0

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        if self.world_size == 1:
            return model
        # Batch-norm running statistics stay per rank after the start (rank 0's are saved): sending
        # them each step would change nothing that trains, as training mode normalises by the batch.
        return DistributedDataParallel(model, forward_sync_buffers=False)

    def agree(self, stop: bool, save: bool, batch) -> tuple[bool, bool, torch.Tensor | None]:
        """(stop, save, loss normaliser) agreed by all ranks; the normaliser is None with one rank
        (the loss uses its own batch's positives)."""
        if self.world_size == 1:
            return stop, save, None
        positives = 0 if batch is None else int((batch[2] > 0).sum())
        votes = torch.tensor([int(stop), int(save), positives], dtype=torch.int64)
        dist.all_reduce(votes)
        # DDP averages the ranks' gradients: dividing by 1/world_size of the global count makes that
        # average the gradient of (sum over all images) / (global positives), as in one process.
        normaliser = votes[2].clamp(min=1).float() / self.world_size
        return bool(votes[0]), bool(votes[1]), normaliser

    def mean(self, value: float) -> float:
        """The mean over ranks of a per-rank number (the logged loss)."""
        if self.world_size == 1:
            return value
        total = torch.tensor([value], dtype=torch.float64)
        dist.all_reduce(total)
        return float(total) / self.world_size


def _join_group(rank: int, world_size: int, store: dist.Store) -> RankGroup:
    dist.init_process_group("gloo", store=store, rank=rank, world_size=world_size, timeout=COLLECTIVE_TIMEOUT)
    return RankGroup(rank, world_size)


def _started_key(rank: int) -> str:
    return f"rank{rank}-started"


def _wait_until_started(store: dist.Store, others: list) -> None:
    """Waits for each spawned rank to reach the store, so that one dying on its way up (an import
    error, memory) fails at once rather than after the group's timeout."""
    keys = [_started_key(rank) for rank in range(1, len(others) + 1)]
    while not store.check(keys):
        if dead := [rank for rank, p in enumerate(others, 1) if not p.is_alive()]:
            raise RuntimeError(f"data-parallel rank(s) {dead} exited while starting")
        time.sleep(0.1)


def _other_rank(rank: int, world_size: int, port: int, threads: int, main, args) -> None:
    torch.set_num_threads(threads)
    store = dist.TCPStore(HOST, port, world_size, is_master=False, timeout=COLLECTIVE_TIMEOUT)
    store.set(_started_key(rank), "1")
    group = _join_group(rank, world_size, store)
    try:
        main(group, *args)
        dist.barrier()  # see rank_group: the ranks leave the group together
    finally:
        dist.destroy_process_group()


@contextmanager
def rank_group(world_size: int, threads: int, other_rank_main, args: tuple = ()):
    """Rank 0's side: spawns ranks 1.. running `other_rank_main(group, *args)` with `threads` torch
    threads each, joins the gloo group with them and yields rank 0's RankGroup. On the way out it
    leaves the group and waits for the others; a rank that failed raises here."""
    if world_size == 1:
        yield RankGroup()
        return
    store = dist.TCPStore(HOST, 0, world_size, is_master=True, wait_for_workers=False, timeout=COLLECTIVE_TIMEOUT)
    spawn = mp.get_context("spawn")
    # Not daemonic: a daemonic process may not start its own data-loader workers.
    others = [spawn.Process(target=_other_rank, args=(rank, world_size, store.port, threads, other_rank_main, args))
              for rank in range(1, world_size)]
    for process in others:
        process.start()
    try:
        _wait_until_started(store, others)
        yield _join_group(0, world_size, store)
        # Leave together: a rank that tore gloo down while another still used it aborted that
        # one now and then ("terminate called without an active exception", exit -6, once in CI).
        dist.barrier()
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
        for process in others:
            process.join(timeout=60)
            if process.is_alive():
                process.terminate()
                process.join()
    failed = [f"rank {rank} exit code {p.exitcode}" for rank, p in enumerate(others, 1) if p.exitcode != 0]
    if failed:
        raise RuntimeError(f"data-parallel ranks failed: {', '.join(failed)}")

"""Local GPU sharing: slot locks place small jobs together on one GPU and whole-GPU jobs on a free one."""
import pytest

from methods.engine import device
from methods.engine.device import take_gpu_slots


@pytest.fixture
def locks(tmp_path):
    held_before = list(device._held_locks)
    yield tmp_path
    for lock in device._held_locks[len(held_before):]:
        lock.close()                 # closing the file releases the job's lock
    device._held_locks[:] = held_before


def test_small_jobs_pack_onto_one_gpu_and_big_jobs_take_a_whole_free_one(locks):
    assert [take_gpu_slots(2, 1, 4, locks) for _ in range(4)] == [0, 0, 0, 0]   # four LeNet-5 cells on GPU 0
    assert take_gpu_slots(2, 4, 4, locks) == 1                                   # a ResNet job gets GPU 1
    assert take_gpu_slots(2, 1, 4, locks) is None                                # both GPUs are full


def test_a_job_never_straddles_two_gpus(locks):
    assert take_gpu_slots(2, 2, 4, locks) == 0
    assert take_gpu_slots(2, 1, 4, locks) == 0
    assert take_gpu_slots(2, 2, 4, locks) == 1      # GPU 0 has one slot left: not enough
    assert take_gpu_slots(2, 2, 4, locks) == 1
    assert take_gpu_slots(2, 2, 4, locks) is None   # one slot free on GPU 0, none on GPU 1
    assert take_gpu_slots(2, 1, 4, locks) == 0


def test_released_slots_are_taken_again(locks):
    assert take_gpu_slots(1, 4, 4, locks) == 0
    assert take_gpu_slots(1, 1, 4, locks) is None
    device._held_locks.pop().close()                # a finishing job's process exits: its locks go
    assert take_gpu_slots(1, 1, 4, locks) == 0


def test_cpu_machine_gets_the_cpu():
    if device.torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    assert device.pick_device(1, 4).type == "cpu"

"""Errors that cross Ray reach the user as their original reason: what the task, actor or Ray Data function raised,
not Ray's wrapper. The errors are raised by real tasks on the shared local cluster."""

import pytest

from sfp_app.cli.main import with_original_reason
from sfp.errors import FrameStoreError, SfpError
from sfp.raycluster import error_chain, is_ray_error, original_reason

pytestmark = pytest.mark.slow


def raised(function, *args) -> BaseException:
    import ray

    with pytest.raises(Exception) as caught:
        ray.get(ray.remote(function).options(max_retries=0).remote(*args))
    return caught.value


def boom(value: int) -> None:
    raise ValueError(f"boom {value}")


def nested() -> None:
    import ray

    ray.get(ray.remote(boom).options(max_retries=0).remote(7))


def damaged() -> None:
    raise FrameStoreError("cannot read this Parquet file, damaged or truncated (shards/part-1.parquet)")


def test_a_tasks_error_is_what_it_raised(ray_cluster):
    error = raised(boom, 42)
    assert is_ray_error(error) and original_reason(error) == "ValueError: boom 42"
    assert original_reason(raised(nested)) == "ValueError: boom 7"  # a task's task


def test_a_platform_error_inside_a_task_keeps_its_message(ray_cluster):
    error = raised(damaged)
    assert original_reason(error) == "cannot read this Parquet file, damaged or truncated (shards/part-1.parquet)"
    assert isinstance(error_chain(error)[-1], SfpError)


def test_a_ray_data_functions_error_is_what_it_raised(ray_cluster):
    import ray

    def load(batch):
        return {"x": batch["id"] * batch["seed"]}  # no such column

    with pytest.raises(Exception) as caught:
        ray.data.range(4, override_num_blocks=1).map_batches(load).take_all()
    assert original_reason(caught.value) == "KeyError: 'seed'"


def test_ray_trains_worker_failure_and_the_platforms_wrapper_say_the_reason(ray_cluster):
    from ray.train import WorkerGroupError

    failure = raised(boom, 3)
    group = WorkerGroupError("[Rank 0 Error Snippet]: ...", {1: raised(boom, 4), 0: failure})
    assert str(group).splitlines()[0] == "Training failed due to worker errors:"
    assert original_reason(group) == "ValueError: boom 3"  # the lowest rank's
    try:
        raise SfpError(f"training run 'demo' failed: {str(group).splitlines()[0]}") from group
    except SfpError as error:
        assert with_original_reason(error) == ("training run 'demo' failed: Training failed due to worker errors: "
                                               "ValueError: boom 3")
    assert with_original_reason(SfpError("plain")) == "plain"


def test_a_training_workers_exception_as_ray_train_wraps_it(ray_cluster):
    """Ray Train hands the driver each worker's exception with its traceback text (UserExceptionWithTraceback)."""
    from ray.train import WorkerGroupError
    from ray.train.v2._internal.exceptions import UserExceptionWithTraceback

    data_error = raised(nested)  # what a worker's Ray Data iterator raises: a task's error
    wrapped = UserExceptionWithTraceback(data_error, f"Traceback (most recent call last):\n{data_error}")
    assert original_reason(WorkerGroupError("...", {0: wrapped})) == "ValueError: boom 7"
    plain = UserExceptionWithTraceback(KeyError("pathway_0"), "Traceback ...\nKeyError: 'pathway_0'")
    assert original_reason(WorkerGroupError("...", {0: plain})) == "KeyError: 'pathway_0'"

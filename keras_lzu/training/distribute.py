"""tf.distribute strategies for `lzu train --distribute`.

`"mirrored"` is `MirroredStrategy` (every local GPU; the CPU when there is
none). `"multi-worker"` is `MultiWorkerMirroredStrategy`, its workers read
from the `TF_CONFIG` environment variable, as on a cluster: every worker
runs the same `lzu train` command, each gets its share of every global
batch, and the gradients are averaged across all of them, so all end with
the same weights. The chief (the `"chief"` task, or worker 0 when there is
none) writes `out/`; every other worker writes its copy of the model to
`out/worker-<index>/model.keras` and nothing else.
"""

import json
import os

import numpy as np

TF_CONFIG = "TF_CONFIG"


def check_tf_config():
    """Checks `TF_CONFIG` for `--distribute multi-worker`.

    Returns:
        The parsed `TF_CONFIG`.

    Raises:
        ValueError: it is unset, not JSON, or lacks `cluster` / `task`.
    """
    text = os.environ.get(TF_CONFIG)
    if not text:
        raise ValueError(
            "distribute='multi-worker' reads the cluster from the TF_CONFIG "
            "environment variable, which is not set. Set it on every "
            'worker, e.g. TF_CONFIG=\'{"cluster": {"worker": ["host1:12345", '
            '"host2:12345"]}, "task": {"type": "worker", "index": 0}}\''
        )
    try:
        tf_config = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"TF_CONFIG is not valid JSON ({error}).") from None
    task = tf_config.get("task") if isinstance(tf_config, dict) else None
    cluster = tf_config.get("cluster") if isinstance(tf_config, dict) else None
    if not isinstance(cluster, dict) or not cluster or not isinstance(
        task, dict
    ) or {"type", "index"} - set(task):
        raise ValueError(
            "TF_CONFIG must be an object with 'cluster' (job name -> list "
            "of host:port) and 'task' ({'type', 'index'}). Received: "
            f"{text[:200]}"
        )
    return tf_config


def make_strategy(distribute):
    """The strategy of `distribute` (`None`: the default strategy).

    Create it before any other TensorFlow work in the process: collective
    operations must be configured at start-up.
    """
    import tensorflow as tf

    if distribute is None:
        return tf.distribute.get_strategy()
    if distribute == "mirrored":
        return tf.distribute.MirroredStrategy()
    if distribute == "multi-worker":
        check_tf_config()
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
        _reduce_like_mirrored(strategy)
        return strategy
    raise ValueError(
        "`distribute` must be None, 'mirrored' or 'multi-worker'. "
        f"Received: {distribute!r}"
    )


def worker_role(strategy):
    """`(is_chief, task_index)` of this process."""
    resolver = getattr(strategy, "cluster_resolver", None)
    task_type = getattr(resolver, "task_type", None)
    if task_type is None:
        return True, 0
    task_id = int(resolver.task_id or 0)
    jobs = resolver.cluster_spec().as_dict()
    if task_type == "chief":
        return True, task_id
    return task_type == "worker" and task_id == 0 and "chief" not in jobs, (
        task_id
    )


def average_non_trainable_weights(model, strategy):
    """Averages the model's float non-trainable weights over all replicas.

    Keras 3 updates batch-normalization statistics (moving mean and
    variance) in each replica from its own share of the batch and never
    aggregates them, so after training every replica holds different ones.
    Averaging them makes every worker save the same model, with statistics
    of all the replicas' data. Every worker must call this (it is a
    collective operation); a no-op with a single replica.
    """
    import tensorflow as tf

    if strategy.num_replicas_in_sync == 1:
        return
    variables = [
        v for v in model.non_trainable_variables
        if tf.as_dtype(v.dtype).is_floating
    ]
    if not variables:
        return

    def local_values():
        return tf.concat([tf.reshape(v.value, [-1]) for v in variables], 0)

    means = strategy.reduce(
        "MEAN", strategy.run(local_values), axis=None
    )
    sizes = [int(np.prod(v.shape)) for v in variables]
    for variable, mean in zip(variables, tf.split(means, sizes)):
        variable.assign(tf.reshape(mean, variable.shape))


def _reduce_like_mirrored(strategy):
    """Makes `strategy.reduce` take what Keras 3's `fit` gives it.

    With `MultiWorkerMirroredStrategy`, Keras 3.15's `fit` reduces a whole
    `(x, y)` batch structure at once (to read its shapes) and per-replica
    scalars with `axis=0`; TensorFlow's collective reduce accepts neither
    (keras-team/keras#20585). Reducing each tensor of a structure on its
    own, and a scalar with `axis=None`, is what `MirroredStrategy` does.
    """
    import tensorflow as tf

    reduce = strategy.reduce

    def reduce_each(reduce_op, value, axis=None):
        def reduce_one(tensor):
            local = strategy.experimental_local_results(tensor)[0]
            one_axis = None if len(local.shape) == 0 else axis
            return reduce(reduce_op, tensor, axis=one_axis)

        return tf.nest.map_structure(reduce_one, value)

    strategy.reduce = reduce_each

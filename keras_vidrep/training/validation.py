"""A whole validation set scored batch by batch: the trainer's periodic validation and `vidrep-eval`'s validation of
a trained run share it."""
import time

import numpy as np
from absl import logging
from tqdm import tqdm

from keras_vidrep.data import pipeline
from keras_vidrep.data.validation_set import ValidationSet
from keras_vidrep.errors import ConfigError

LONG_VALIDATION_BATCHES = 200


def validation_numbers(task, eval_step, source, batch_size, each_batch=None):
    """The task's whole-set validation numbers of `source` (a `ValidationSet` of tuples of arrays), read and scored
    batch by batch by `eval_step(*batch)`; `each_batch()` is called after every batch. A long validation shows a
    progress bar; the time it took is logged."""
    if not isinstance(source, ValidationSet):
        raise ConfigError(f"task {task.name!r}: validation_set() must return a ValidationSet "
                          f"(keras_vidrep.data.validation_set; ValidationSet.of_arrays for arrays in memory), got a "
                          f"{type(source).__name__}")
    summary, start = task.validation_summary(), time.perf_counter()
    batches, count = pipeline.streamed_dataset(source, batch_size), -(-len(source) // batch_size)
    if count > LONG_VALIDATION_BATCHES:
        batches = tqdm(batches, total=count, desc="validation", unit="batch", dynamic_ncols=True, leave=False,
                       mininterval=1.0)
    for batch in batches:
        summary.add({name: np.asarray(value) for name, value in eval_step(*batch).items()})
        if each_batch:
            each_batch()
    seconds = time.perf_counter() - start
    logging.info("validation: %d examples in %.1f s (%.0f examples/s)", len(source), seconds,
                 len(source) / max(seconds, 1e-9))
    return task.summarize_validation(summary)

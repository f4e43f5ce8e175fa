"""Writing a sharded dataset: one job per shard, run in this process or on Apache Beam.

A job is a plain dict (`spec`) that says everything about one shard — its file, its videos, the first video's
number and the settings — so any worker of any runner can write it from nothing: `write_shard(spec)`. Beam is
the engine for more than one worker: the DirectRunner with `workers` processes on this machine, or any runner its
pipeline options name (Dataflow, Flink, Spark: `beam_options`), as long as every worker sees the output folder
(a shared file system). Shards already complete are not sent again, so a killed run resumes shard by shard; the
index is written last, by this process, from the shards themselves.
"""
import functools
import logging
import os
import shlex
import threading

from tqdm import tqdm

from keras_vidrep.data import shards
from keras_vidrep.errors import ConfigError, DataError, VidrepError

POLL_SECONDS = 1.0
ERROR_SUFFIX = ".error"


def shard_specs(job, videos, output, count, settings, **common):
    """The jobs writing `videos` (sorted) into `count` shards of the index `output`.

    Args:
      job: `dataset` (patches or frames), `fc6` (features in the fc6 format) or `features` (vidrep-features).
      settings: what the data depends on (it is part of each shard's key, so a resume with other settings is
        refused).
      common: the writer's arguments, the same for every shard.
    """
    return [dict(job=job, path=path, videos=part, first_video=first, shard=k, count=count,
                 key=shards.shard_key({**settings, "first_video": first}, part), settings=settings, **common)
            for k, (path, (first, part)) in enumerate(zip(shards.shard_paths(output, count),
                                                          shards.assign(videos, count)))]


@functools.lru_cache(maxsize=2)
def _backbone(name, weights, batch_size, seed):  # one network per worker process, built by its first shard
    from keras_vidrep.data.backbone import Backbone

    return Backbone(name, weights, batch_size, seed=seed)


def write_shard(spec):
    """Writes the shard `spec` describes (unless it is already complete); returns its path."""
    from keras_vidrep.data import preprocess

    path, key = spec["path"], spec["key"]
    if shards.finished(path, key):
        return path
    marks = {"shard_key": key, "shard": spec["shard"]}
    job = spec["job"]
    if job == "features":  # resumable inside the shard too: appended under a temporary name, renamed when done
        partial = path + ".partial"
        preprocess.write_video_features(spec["videos"], partial, _backbone(*spec["backbone"]), spec["every"],
                                        {**spec["attributes"], **marks}, progress=False)
        os.replace(partial, path)
        return path
    source = preprocess.video_files(spec["videos"], **spec["decode"])
    if job == "fc6":
        preprocess.write_features(source, path, _backbone(*spec["backbone"]), spec["skip_bad"], side_files=False,
                                  attributes={**spec["settings"], **marks}, progress=False)
    else:
        s = spec["settings"]
        preprocess.write_dataset(source, path, s["kind"], s["size"], s["seq_length"], s["crops"], s["per_video"],
                                 s["seed"], spec["skip_bad"], {**s, **marks}, frame_skip=s["frame_skip"],
                                 first_video=spec["first_video"], progress=False)
    return path


def run(specs, output, dataset, workers=1, beam_options="", description="shards"):
    """Writes every shard of `specs` not yet complete, then the index at `output`. Returns (videos, rows,
    shards done before).

    Args:
      dataset: the rows' dataset name in the shards (patches, frames, hidden6, features).
      workers: 1 writes the shards one after another in this process; more run them on Beam's DirectRunner with
        that many worker processes.
      beam_options: Beam pipeline options (e.g. "--runner=FlinkRunner --flink_master=HOST:8081"); any option
        here sends the jobs to Beam, whose runner it names (DirectRunner with `workers` processes by default).
    """
    if workers <= 0:
        raise ConfigError(f"`workers` must be a positive integer, got {workers}")
    todo = [s for s in specs if not shards.finished(s["path"], s["key"])]
    bar = tqdm(total=len(specs), initial=len(specs) - len(todo), desc=description, unit="shard", dynamic_ncols=True)
    try:
        if workers == 1 and not beam_options:
            for spec in todo:
                write_shard(spec)
                bar.update()
        else:
            _on_beam(todo, workers, beam_options, bar)
    finally:
        bar.close()
    videos, rows = shards.write_index(output, [s["path"] for s in specs], dataset)
    return videos, rows, len(specs) - len(todo)


def beam_arguments(workers, beam_options):
    """The pipeline options: `beam_options`, or the DirectRunner on `workers` processes of this machine (whose
    workers log errors only)."""
    arguments = shlex.split(beam_options)
    if not any(a.startswith("--runner") for a in arguments):
        arguments = ["--runner=DirectRunner", f"--direct_num_workers={workers}",
                     "--direct_running_mode=multi_processing", "--default_sdk_harness_log_level=ERROR",
                     *arguments]
    return arguments


def _on_beam(specs, workers, beam_options, bar):
    """Runs `write_shard` over `specs` on Beam, moving `bar` as shard files appear; raises the first error a worker
    reported."""
    try:
        import apache_beam as beam
        from apache_beam.options.pipeline_options import PipelineOptions
    except ImportError:
        raise ConfigError("`workers` > 1 and `beam_options` run on Apache Beam: pip install "
                          "'keras_vidrep[beam]'") from None
    if not specs:
        return
    for spec in specs:  # reports left by an earlier, interrupted run
        if os.path.exists(spec["path"] + ERROR_SUFFIX):
            os.remove(spec["path"] + ERROR_SUFFIX)
    options = PipelineOptions(beam_arguments(workers, beam_options))
    failure = []

    def pipeline():
        try:
            with beam.Pipeline(options=options) as p:
                _ = p | beam.Create(specs) | beam.Reshuffle() | beam.Map(report_errors)  # Reshuffle: spread the jobs
        except Exception as e:  # noqa: BLE001 - re-raised below, in this thread
            failure.append(e)

    thread = threading.Thread(target=pipeline, daemon=True)
    beam_log = logging.getLogger("apache_beam")
    level = beam_log.level
    beam_log.setLevel(logging.ERROR)
    try:
        thread.start()
        while thread.is_alive():
            thread.join(POLL_SECONDS)
            done = sum(os.path.exists(s["path"]) for s in specs)
            bar.update(done - (bar.n - bar.initial))
    finally:
        beam_log.setLevel(level)
    raise_reported(specs)
    if failure:
        raise failure[0]


def report_errors(spec):
    """`write_shard` for a Beam worker: an error of the data (a video that cannot be read, a shard in the way) is
    written beside the shard for the driver to raise in one line, rather than failing (and retrying) the bundle."""
    try:
        write_shard(spec)
    except VidrepError as e:
        with open(spec["path"] + ERROR_SUFFIX, "w", encoding="utf-8") as f:
            f.write(str(e))


def raise_reported(specs):
    """DataError with the first error a worker reported (the reports are removed), if any."""
    messages = []
    for spec in specs:
        report = spec["path"] + ERROR_SUFFIX
        if os.path.exists(report):
            with open(report, encoding="utf-8") as f:
                messages.append(f.read().strip())
            os.remove(report)
    if messages:
        more = f" (and {len(messages) - 1} more shard(s) failed)" if len(messages) > 1 else ""
        raise DataError(messages[0] + more)

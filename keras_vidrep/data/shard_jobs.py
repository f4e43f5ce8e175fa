"""Writing a sharded dataset: one job per shard, run in this process or on Apache Beam.

A job is a plain dict (`spec`) that says everything about one shard — its file, its videos, the first video's
number and the settings — so any worker of any runner can write it from nothing: `write_shard(spec)`. Beam is
the engine for more than one worker: its local runner (FnApiRunner) with `workers` processes on this machine, or
any runner its pipeline options name (Dataflow, Flink, Spark: `beam_options`), as long as every worker sees the
output folder (a shared file system). Every attempt writes its own temporary file and renames it when complete,
so a retried or duplicated job (Flink, Spark and Dataflow do both) leaves one complete shard and nothing else.
Shards already complete are not sent again, so a killed run resumes shard by shard (a shard that could not read
some of its videos records them and is written again by the next run); the index is written last, by this
process, from the shards themselves.
"""
import contextlib
import functools
import importlib.util
import json
import os
import shlex
import sys
import threading

import h5py
from tqdm import tqdm

from keras_vidrep.data import preprocess, shards
from keras_vidrep.data.backbone import Backbone
from keras_vidrep.data.checks import attempt_path
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
def backbone(name, weights, batch_size=32, seed=0):
    """The `Backbone` of these settings, built once per process: the tool's check of the weights and the shards it
    writes itself share it; a Beam worker builds its own with its first shard."""
    return Backbone(name, weights, batch_size, seed=seed)


def write_shard(spec):
    """Writes the shard `spec` describes (unless it is already complete); returns its path."""
    path, key = spec["path"], spec["key"]
    if shards.finished(path, key):
        return path
    marks = {"shard_key": key, "shard": spec["shard"]}
    job = spec["job"]
    if job == "features":  # written under this attempt's own name, renamed when complete
        attempt = attempt_path(path)
        try:
            result = preprocess.write_video_features(spec["videos"], attempt, backbone(*spec["backbone"]),
                                                     spec["every"], {**spec["attributes"], **marks}, progress=False)
            with h5py.File(attempt, "a") as f:  # retried by the next run
                f.attrs[shards.UNREADABLE] = json.dumps(result["failed"])
            os.replace(attempt, path)
        finally:
            if os.path.exists(attempt):
                os.remove(attempt)
        return path
    source = preprocess.video_files(spec["videos"], **spec["decode"])
    if job == "fc6":
        preprocess.write_features(source, path, backbone(*spec["backbone"]), spec["skip_bad"], side_files=False,
                                  attributes={**spec["settings"], **marks}, progress=False)
    else:
        s = spec["settings"]
        preprocess.write_dataset(source, path, s["kind"], s["size"], s["seq_length"], s["crops"], s["per_video"],
                                 s["seed"], spec["skip_bad"], {**s, **marks}, frame_skip=s["frame_skip"],
                                 first_video=spec["first_video"], progress=False)
    return path


def run(specs, output, dataset, workers=1, beam_options="", description="shards"):
    """Writes every shard of `specs` not yet complete, then the index at `output`. Returns (videos, rows,
    shards done before, videos that could not be read: recorded in the index, tried again by the next run).

    Args:
      dataset: the rows' dataset name in the shards (patches, frames, hidden6, features).
      workers: 1 writes the shards one after another in this process; more run them on Beam's local runner with
        that many worker processes (Beam's messages go to `log_path(output)`, the terminal shows a progress bar).
      beam_options: Beam pipeline options (e.g. "--runner=FlinkRunner --flink_master=HOST:8081"); any option
        here sends the jobs to Beam, whose runner it names (the local runner with `workers` processes by default).
    """
    if workers <= 0:
        raise ConfigError(f"`workers` must be a positive integer, got {workers}")
    todo = [s for s in specs if not shards.finished(s["path"], s["key"])]
    done_before = len(specs) - len(todo)
    if workers == 1 and not beam_options:
        with _bar(len(specs), done_before, description, sys.stderr) as bar:
            for spec in todo:
                write_shard(spec)
                bar.update()
    else:
        _on_beam(todo, workers, beam_options, log_path(output),
                 functools.partial(_bar, len(specs), done_before, description))
    videos, rows, unreadable = shards.write_index(output, [s["path"] for s in specs], dataset)
    return videos, rows, done_before, unreadable


def log_path(output):
    """Where a Beam run writing the index `output` keeps Beam's own log (its workers' too)."""
    return output + ".beam.log"


def log_note(output, workers, beam_options):
    """"; Beam's log: PATH" for a run that went through Beam, else ""."""
    return f"; Beam's log: {log_path(output)}" if workers > 1 or beam_options else ""


def _bar(total, initial, description, stream):
    return tqdm(total=total, initial=initial, desc=description, unit="shard", dynamic_ncols=True, file=stream)


@contextlib.contextmanager
def _stderr_into(path):
    """Sends file descriptor 2 — this process's and that of every process it starts meanwhile — to the end of the
    file `path`; yields a stream on the former standard error (the terminal) for the progress bar."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(path, "a", encoding="utf-8") as log:
            os.dup2(log.fileno(), 2)
            try:
                with os.fdopen(os.dup(saved), "w", encoding="utf-8") as terminal:
                    yield terminal
            finally:
                sys.stderr.flush()
                os.dup2(saved, 2)
    finally:
        os.close(saved)


def beam_arguments(workers, beam_options):
    """The pipeline options: `beam_options`, or Beam's local runner on `workers` processes of this machine: the
    FnApiRunner, which is what the DirectRunner runs a batch pipeline on unless it first downloads the Prism runner
    from the network; naming it keeps a run the same with or without a network."""
    arguments = shlex.split(beam_options)
    if not any(a.startswith("--runner") for a in arguments):
        arguments = ["--runner=FnApiRunner", f"--direct_num_workers={workers}",
                     "--direct_running_mode=multi_processing", *arguments]
    return arguments


def _on_beam(specs, workers, beam_options, log, make_bar):
    """Runs `write_shard` over `specs` on Beam, moving a progress bar (`make_bar(stream)`) as shard files appear;
    Beam's messages (its workers' too) go to the file `log`. Raises the first error a worker reported."""
    if importlib.util.find_spec("apache_beam") is None:  # imported in the pipeline's thread, its messages logged
        raise ConfigError("`workers` > 1 and `beam_options` run on Apache Beam: pip install "
                          "'keras_vidrep[beam]'")
    for spec in specs:  # reports left by an earlier, interrupted run
        if os.path.exists(spec["path"] + ERROR_SUFFIX):
            os.remove(spec["path"] + ERROR_SUFFIX)
    failure = []
    with _stderr_into(log) as terminal, make_bar(terminal) as bar:
        if specs:
            thread = threading.Thread(target=_pipeline, args=(specs, beam_arguments(workers, beam_options), failure),
                                      daemon=True)
            thread.start()
            while thread.is_alive():
                thread.join(POLL_SECONDS)
                done = sum(os.path.exists(s["path"]) for s in specs)
                bar.update(done - (bar.n - bar.initial))
    raise_reported(specs)
    if failure:
        first = (str(failure[0]).strip().splitlines() or [type(failure[0]).__name__])[0][:300]
        raise DataError(f"the Beam pipeline failed: {first} (Beam's log: {log})") from failure[0]


def _pipeline(specs, arguments, failure):
    """The Beam pipeline writing `specs`; an exception is appended to `failure` (it runs in a thread)."""
    try:
        import apache_beam as beam
        from apache_beam.options.pipeline_options import PipelineOptions

        with beam.Pipeline(options=PipelineOptions(arguments)) as p:
            _ = p | beam.Create(specs) | beam.Reshuffle() | beam.Map(report_errors)  # Reshuffle: spread the jobs
    except Exception as e:  # noqa: BLE001 - raised by the caller, in its thread
        failure.append(e)


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

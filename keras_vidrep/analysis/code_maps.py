"""Pictures of learned codes (what `vidrep-embed` writes): t-SNE maps, clusters, per-video cluster timelines, the
learned-pattern heat map, and the learning curve of the run that made them. numpy, scikit-learn and matplotlib.

  * `tsne.png`       t-SNE (scikit-learn) at several perplexities side by side, coloured by video or by label;
  * `clusters.png`   the first t-SNE map coloured by k-means and by agglomerative (Ward) clusters;
  * `clusters.csv`   every code's video, frame numbers and both clusters;
  * `timeline.png`   one row per video: its k-means cluster over time;
  * `patterns.png`   the codes over time, one row per code unit (videos side by side, split by white lines);
  * `learning_curve.png`  training and validation losses from the run's TensorBoard logs.

A file of more than `max_points` codes is drawn from a seeded random subsample of that many (in file order; the
maps' titles and the printed summary say so): t-SNE and Ward clustering grow with the square of the points. The
file is checked whole, block by block, and never read whole into memory.
"""
import csv
import os

import h5py
import numpy as np

from keras_vidrep.data.checks import check_values
from keras_vidrep.data.rows import take_rows
from keras_vidrep.errors import ConfigError, DataError
from keras_vidrep.runs.directory import SUMMARY_SPLITS, RunDir

MAX_VIDEO_COLOURS = 20
MAX_POINTS = 5000


def load_codes(path, max_points=None, seed=0):
    """{codes (N, C), video_index (N,), frame_number (N,), end_frame_number (N,) or None, videos [names],
    attrs {}, total (codes in the file), subsample (a line saying what was drawn, or "")} from a `.h5` or `.npy`
    file of vidrep-embed (frame VAEs write `means`). With more than `max_points` codes in the file, a seeded random
    subsample of `max_points` of them, in file order."""
    if not os.path.isfile(path):
        raise DataError(f"`codes` {path!r}: no such file")
    if path.endswith(".npy"):
        stem = os.path.splitext(path)[0]
        try:
            out = {"codes": np.load(path, mmap_mode="r", allow_pickle=False), "attrs": {}}
        except (OSError, ValueError, EOFError) as e:
            raise DataError(f"`codes` {path!r} is not a readable .npy file ({str(e).splitlines()[0]})") from None
        for name in ("video_index", "frame_number", "end_frame_number"):
            side = f"{stem}_{name}.npy"
            out[name] = np.load(side) if os.path.isfile(side) else None
        names = f"{stem}_videos.txt"
        out["videos"] = open(names, encoding="utf-8").read().split("\n")[:-1] if os.path.isfile(names) else None
    else:
        try:
            f = h5py.File(path, "r")  # open until the codes are read below, block by block and at the rows drawn
            key = "codes" if "codes" in f else "means"
            if key not in f:
                f.close()
                raise DataError(f"`codes` {path!r} has neither `codes` nor `means`; write it with vidrep-embed")
            out = {"codes": f[key], "attrs": dict(f.attrs)}
            for name in ("video_index", "frame_number", "end_frame_number"):
                out[name] = f[name][...] if name in f else None
            out["videos"] = ([v.decode() if isinstance(v, bytes) else str(v) for v in f["videos"][...]]
                             if "videos" in f else None)
        except OSError as e:
            raise DataError(f"`codes` {path!r} is not a readable HDF5 file ({e})") from None
    codes = out["codes"]
    try:
        return _drawn(out, path, max_points, seed)
    finally:
        if not isinstance(codes, np.ndarray):
            codes.file.close()


def _drawn(out, path, max_points, seed):
    """`out` of `load_codes` checked, with the codes (and their index) of the rows drawn read into memory."""
    codes = out["codes"]
    if codes.ndim != 2 or len(codes) < 3:
        raise DataError(f"`codes` {path!r}: expected at least 3 codes (N, C), got shape {codes.shape}")
    if not np.issubdtype(codes.dtype, np.number):
        raise DataError(f"`codes` {path!r}: expected numbers, got {codes.dtype}")
    check_values(codes, path, "code value")
    out["total"], out["subsample"] = len(codes), ""
    rows = np.arange(len(codes))
    if max_points and len(codes) > max_points:
        rows = np.sort(np.random.default_rng(seed).choice(len(codes), max_points, replace=False))
        out["subsample"] = f"a random {max_points:,} of {len(codes):,} codes (seed {seed}; --max_points)"
    out["codes"] = np.asarray(take_rows(codes, rows), np.float64)
    if out["video_index"] is None:
        out["video_index"] = np.zeros(len(codes), np.int64)
    if out["frame_number"] is None:
        out["frame_number"] = np.arange(len(codes))
    if out["videos"] is None:
        out["videos"] = [f"video {i}" for i in range(int(out["video_index"].max()) + 1)]
    for name in ("video_index", "frame_number", "end_frame_number"):
        if out[name] is not None:
            out[name] = np.asarray(out[name])[rows]
    return out


def read_labels(path, videos):
    """One label per video (a line each, in the videos' order) → the label names."""
    if not os.path.isfile(path):
        raise DataError(f"`labels_file` {path!r}: no such file")
    labels = [line.strip() for line in open(path, encoding="utf-8") if line.strip()]
    if len(labels) != len(videos):
        raise DataError(f"`labels_file` {path!r} has {len(labels)} labels for {len(videos)} videos (one per line, "
                        f"in the order of the codes' videos)")
    return labels


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _scatter(ax, points, groups, names, title):
    """Points coloured by integer `groups`, with a legend of `names` (up to MAX_VIDEO_COLOURS entries)."""
    plt = _plt()
    cmap = plt.get_cmap("tab20" if len(names) > 10 else "tab10")
    for g in np.unique(groups):
        mask = groups == g
        ax.scatter(points[mask, 0], points[mask, 1], s=8, color=cmap(int(g) % cmap.N),
                   label=names[int(g)] if len(names) <= MAX_VIDEO_COLOURS else None)
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])


def check_perplexities(perplexities, count):
    """ConfigError unless every perplexity is positive and below the number of codes (t-SNE's own limit)."""
    for p in perplexities:
        if not 0 < p < count:
            raise ConfigError(f"`perplexities` must be above 0 and below the number of codes ({count}), got {p:g}; "
                              f"give smaller ones, e.g. --perplexities={max(1, min(5, count - 1))}")


def check_clusters(k, count):
    """ConfigError unless `k` clusters can be made of `count` codes."""
    if not 2 <= k <= count:
        raise ConfigError(f"`clusters` must be between 2 and the number of codes ({count}), got {k}")


def tsne_maps(codes, perplexities, seed=0):
    """{perplexity: (N, 2) t-SNE map}, in the order given (each perplexity positive and below len(codes))."""
    from sklearn.manifold import TSNE

    check_perplexities(perplexities, len(codes))
    maps = {}
    for p in map(float, perplexities):
        if p not in maps:
            maps[p] = TSNE(2, perplexity=p, init="pca", random_state=seed).fit_transform(codes)
    return maps


def clusters(codes, k, seed=0):
    """(k-means labels, agglomerative Ward labels) of the codes, k clusters each."""
    from sklearn.cluster import AgglomerativeClustering, KMeans

    check_clusters(k, len(codes))
    kmeans = KMeans(k, n_init=10, random_state=seed).fit_predict(codes)
    return kmeans, AgglomerativeClustering(k, linkage="ward").fit_predict(codes)


def plot_tsne(maps, groups, names, path, what, note=""):
    plt = _plt()
    fig, axes = plt.subplots(1, len(maps), figsize=(4 * len(maps), 4.2), squeeze=False)
    for ax, (p, points) in zip(axes[0], maps.items()):
        _scatter(ax, points, groups, names, f"t-SNE, perplexity {p:g}")
    if len(names) <= MAX_VIDEO_COLOURS:
        axes[0][-1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5), title=what)
    fig.suptitle(f"{note or f'{len(groups)} codes'} coloured by {what}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_clusters(points, kmeans, agglomerative, path, note=""):
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(8.5, 4.2))
    k = int(kmeans.max()) + 1
    names = [f"cluster {i}" for i in range(k)]
    _scatter(axes[0], points, kmeans, names, f"k-means, k={k}")
    _scatter(axes[1], points, agglomerative, names, f"agglomerative (Ward), k={k}")
    axes[1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    if note:
        fig.suptitle(note, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_timeline(data, kmeans, path):
    """One row per video: the k-means cluster of each code against its frame number."""
    plt = _plt()
    videos = np.unique(data["video_index"])
    k = int(kmeans.max()) + 1
    cmap = plt.get_cmap("tab10" if k <= 10 else "tab20")
    fig, ax = plt.subplots(figsize=(10, 0.45 * len(videos) + 1.2))
    for row, v in enumerate(videos):
        mask = data["video_index"] == v
        ax.scatter(data["frame_number"][mask], np.full(mask.sum(), row), c=[cmap(c % cmap.N) for c in kmeans[mask]],
                   marker="s", s=30, linewidths=0)
    ax.set_yticks(range(len(videos)))
    ax.set_yticklabels([os.path.basename(data["videos"][v]) for v in videos], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("frame number")
    ax.set_title(f"k-means cluster over time (k={k})", fontsize=10)
    handles = [plt.Line2D([], [], marker="s", linestyle="", color=cmap(c % cmap.N), label=f"cluster {c}")
               for c in range(k)]
    ax.legend(handles=handles, fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_patterns(data, path, max_units=64):
    """The learned-pattern heat map: codes in time order (x), one row per code unit (y), videos side by side."""
    plt = _plt()
    codes = data["codes"][:, :max_units]
    fig, ax = plt.subplots(figsize=(10, 0.12 * codes.shape[1] + 1.8))
    limit = float(np.abs(codes).max()) or 1.0
    image = ax.imshow(codes.T, aspect="auto", cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest")
    starts = np.flatnonzero(np.r_[True, np.diff(data["video_index"]) != 0])
    for s in starts[1:]:
        ax.axvline(s - 0.5, color="white", linewidth=1.5)
    ax.set_xticks(starts)
    ax.set_xticklabels([os.path.basename(data["videos"][data["video_index"][s]])[:14] for s in starts], fontsize=7,
                       rotation=30, ha="left")
    ax.set_ylabel("code unit")
    ax.set_title("learned patterns: codes over time, one row per unit" +
                 (f" (first {max_units} of {data['codes'].shape[1]})" if data["codes"].shape[1] > max_units else ""),
                 fontsize=10)
    fig.colorbar(image, ax=ax, fraction=0.03)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def read_curves(model_dir):
    """{split/tag: (steps, values)} of the `loss/...` scalars in a run's TensorBoard logs."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    curves = {}
    for split in SUMMARY_SPLITS:
        directory = RunDir(model_dir).summaries(split)
        if not os.path.isdir(directory):
            continue
        acc = EventAccumulator(directory, size_guidance={"tensors": 0})
        acc.Reload()
        for tag in acc.Tags().get("tensors", []):
            if tag.startswith("loss/"):
                events = acc.Tensors(tag)
                curves[f"{split}/{tag[5:]}"] = (np.array([e.step for e in events]),
                                                np.array([float(np.asarray(_value(e))) for e in events]))
    return curves


def _value(event):
    import tensorflow as tf

    return tf.make_ndarray(event.tensor_proto)


def plot_learning_curve(model_dir, path):
    """Training and validation losses of the run in `model_dir`; None if it has no logs."""
    curves = read_curves(model_dir)
    if not curves:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for name, (steps, values) in sorted(curves.items()):
        ax.plot(steps, values, marker="o" if name.startswith("validation") else None, markersize=3, label=name)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_yscale("log")
    ax.set_title(f"learning curve: {os.path.basename(os.path.abspath(model_dir))}", fontsize=10)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def read_checked(codes_path, perplexities=(5, 30, 50), k=6, labels_file="", max_points=MAX_POINTS, seed=0):
    """The codes of `codes_path` (`load_codes`), with every drawing option checked against them and each code's
    colour group: numpy and h5py only, so that a command refuses bad input before TensorFlow loads. Adds `groups`
    (N,), `names` (of the groups) and `what` (video or label) to `load_codes`'s dict."""
    data = load_codes(codes_path, max_points, seed)
    check_perplexities(perplexities, len(data["codes"]))
    check_clusters(k, len(data["codes"]))
    if labels_file:
        labels = read_labels(labels_file, data["videos"])
        data["names"] = sorted(set(labels))
        data["groups"], data["what"] = np.array([data["names"].index(labels[v]) for v in data["video_index"]]), "label"
    else:
        data["names"] = [os.path.basename(v) for v in data["videos"]]
        data["groups"], data["what"] = data["video_index"], "video"
    return data


def draw_all(data, out_dir, perplexities=(5, 30, 50), k=6, model_dir="", seed=0):
    """Every picture (and clusters.csv) of the codes `data` (of `read_checked`) into `out_dir`; returns the paths
    written, after a line about the subsample if one was drawn. The learning curve reads TensorBoard logs with
    TensorFlow."""
    os.makedirs(out_dir, exist_ok=True)
    maps = tsne_maps(data["codes"], perplexities, seed)
    kmeans, agglomerative = clusters(data["codes"], k, seed)
    note = data["subsample"]
    out = [plot_tsne(maps, data["groups"], data["names"], os.path.join(out_dir, "tsne.png"), data["what"], note),
           plot_clusters(next(iter(maps.values())), kmeans, agglomerative, os.path.join(out_dir, "clusters.png"),
                         note),
           plot_timeline(data, kmeans, os.path.join(out_dir, "timeline.png")),
           plot_patterns(data, os.path.join(out_dir, "patterns.png"))]
    table = os.path.join(out_dir, "clusters.csv")
    with open(table, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        end = data["end_frame_number"]
        writer.writerow(["video", "frame_number", "end_frame_number", "kmeans", "agglomerative"])
        for i in range(len(kmeans)):
            writer.writerow([data["videos"][data["video_index"][i]], int(data["frame_number"][i]),
                             int(end[i]) if end is not None else int(data["frame_number"][i]), int(kmeans[i]),
                             int(agglomerative[i])])
    out.append(table)
    model_dir = model_dir or data["attrs"].get("model_dir", "")
    if model_dir:
        curve = plot_learning_curve(model_dir, os.path.join(out_dir, "learning_curve.png"))
        if curve:
            out.append(curve)
    return ([f"drew {note}"] if note else []) + out


def write_all(codes_path, out_dir, perplexities=(5, 30, 50), k=6, labels_file="", model_dir="", seed=0,
              max_points=MAX_POINTS):
    """Every picture (and clusters.csv) of the codes in `codes_path` (a subsample of `max_points` of a larger file,
    see `load_codes`) into `out_dir`, every input checked before `out_dir` is made; returns the paths written."""
    return draw_all(read_checked(codes_path, perplexities, k, labels_file, max_points, seed), out_dir, perplexities,
                    k, model_dir, seed)

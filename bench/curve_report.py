"""The learning curve's report (bench/learning_curve.py --report): a power-law fit of future nats against training
minutes per framework and CPU, what it predicts for the paper's 341.2 nats/frame, the package's lead over the
PyTorch port at each budget; learning_curve.md and learning_curve.png beside the results."""
import math
import os

import numpy as np

TARGETS = {15.0: 450.0, 60.0: 400.0}  # nats/frame the package aims to reach at these budgets (2 cores)
LEAD = 0.15  # and to be at least this much below the PyTorch port at every budget


def fit_power_law(minutes, nats):
    """log(nats) = log(a) - b log(minutes) by least squares: {a, b, b_se (None with 2 points), points}."""
    x, y = np.log(np.asarray(minutes, float)), np.log(np.asarray(nats, float))
    design = np.stack([np.ones_like(x), x], 1)
    (log_a, slope), *_ = np.linalg.lstsq(design, y, rcond=None)
    fit = {"a": float(math.exp(log_a)), "b": float(-slope), "b_se": None, "points": len(x)}
    if len(x) > 2:
        residual = y - design @ np.array([log_a, slope])
        sigma2 = float(residual @ residual) / (len(x) - 2)
        fit["b_se"] = float(math.sqrt(sigma2 * np.linalg.inv(design.T @ design)[1, 1]))
    return fit


def minutes_to_reach(fit, nats, b=None):
    """Training minutes at which the fitted line in log-log space, turned about the centre of the measured points
    to exponent `b` if given (the least-squares line passes through that centre), reaches `nats`."""
    b = fit["b"] if b is None else b
    if b <= 0:
        return math.inf
    return math.exp(fit["centre"][0] + (fit["centre"][1] - math.log(nats)) / b)


def local_slopes(rows):
    """The exponent b between each two consecutive budgets of sorted (minutes, nats) rows."""
    return [(m0, m1, math.log(n0 / n1) / math.log(m1 / m0)) for (m0, n0), (m1, n1) in zip(rows, rows[1:])]


def fits(points):
    """{framework: fit} over `points` (one CPU's {name: point}); a framework needs three budgets (a line through
    two has no uncertainty and says nothing of the curve's bend)."""
    out = {}
    for framework in sorted({p["framework"] for p in points.values()}):
        rows = sorted((p["minutes"], p["future_nats"]) for p in points.values() if p["framework"] == framework)
        if len(rows) < 3:
            continue
        fit = fit_power_law(*zip(*rows))
        fit["centre"] = [float(np.mean(np.log(column))) for column in zip(*rows)]
        fit["paper_minutes"] = minutes_to_reach(fit, 341.2)
        if fit["b_se"] is not None:
            fit["paper_minutes_range"] = sorted(minutes_to_reach(fit, 341.2, fit["b"] + s * fit["b_se"])
                                                for s in (1, -1))
        m0, m1, last = local_slopes(rows)[-1]
        fit["last_slope"] = last
        fit["paper_minutes_last_slope"] = rows[-1][0] * (rows[-1][1] / 341.2) ** (1 / last) if last > 0 else math.inf
        out[framework] = fit
    return out


def hours(minutes):
    return "never (no slope)" if math.isinf(minutes) else f"{minutes / 60:,.0f} h" if minutes >= 600 else \
        f"{minutes / 60:.1f} h"


def table(cpu, points, fitted):
    lines = [f"### {cpu}", "", "| framework | budget (min) | steps | precision | future nats/frame | future MSE/frame "
             "| copy-last nats | date |", "|---|---:|---:|---|---:|---:|---:|---|"]
    for p in sorted(points.values(), key=lambda p: (p["minutes"], p["framework"])):
        lines.append(f"| {p['framework']} | {p['minutes']:g} | {p['steps']:,} | {p['precision']} | "
                     f"{p['future_nats']:.1f} | {p['future_mse']:.1f} | {p['copy_last_nats']:.1f} | {p['date']} |")
    lines.append("")
    for minutes in sorted({p["minutes"] for p in points.values()}):
        pair = {p["framework"]: p["future_nats"] for p in points.values() if p["minutes"] == minutes}
        if len(pair) == 2:
            lead = 1 - pair["package"] / pair["torch"]
            lines.append(f"- {minutes:g} min: the package is {lead:.1%} below the PyTorch port "
                         f"({'meets' if lead >= LEAD else 'misses'} the {LEAD:.0%} lead).")
        if "package" in pair and minutes in TARGETS:
            gap = pair["package"] - TARGETS[minutes]
            lines.append(f"- {minutes:g} min target {TARGETS[minutes]:g} nats/frame: "
                         + ("met" if gap <= 0 else f"missed by {gap:.1f}") + f" ({pair['package']:.1f}).")
    for framework in sorted({p["framework"] for p in points.values()}):
        rows = sorted((p["minutes"], p["future_nats"]) for p in points.values() if p["framework"] == framework)
        if len(rows) > 1:
            lines.append(f"- local exponent b (nats ∝ minutes^-b), {framework}: " + ", ".join(
                f"{m0:g}→{m1:g} min {b:.3f}" for m0, m1, b in local_slopes(rows)) + ".")
    for framework, fit in fitted.items():
        lines.append(f"- fit, {framework}: nats ≈ {fit['a']:.0f} × minutes^-{fit['b']:.3f} (± {fit['b_se']:.3f}) over "
                     f"{fit['points']} budgets. Extrapolated to the paper's 341.2 (an extrapolation): "
                     f"{hours(fit['paper_minutes'])} of this machine (slope ± 1 standard error: "
                     f"{hours(fit['paper_minutes_range'][0])} to {hours(fit['paper_minutes_range'][1])}); with the "
                     f"last budgets' exponent ({fit['last_slope']:.3f}) held from the last point: "
                     f"{hours(fit['paper_minutes_last_slope'])}.")
    return lines + [""]


def plot(record, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, horizons) = plt.subplots(1, 2, figsize=(13, 4.8), gridspec_kw={"width_ratios": [3, 2]})
    for cpu, points in record["machines"].items():
        fitted = fits(points)
        for framework in sorted({p["framework"] for p in points.values()}):
            rows = sorted((p["minutes"], p["future_nats"]) for p in points.values() if p["framework"] == framework)
            ax.plot(*zip(*rows), "o-", label=f"{framework} ({cpu.split(' (')[0]})")
            fit = fitted.get(framework)
            if fit:
                grid = np.geomspace(rows[0][0], max(240.0, rows[-1][0]), 50)
                ax.plot(grid, fit["a"] * grid ** -fit["b"], "--", lw=1, color=ax.lines[-1].get_color(),
                        label=f"{framework}: power-law fit, extrapolated")
    ax.axhline(record["paper_nats"], color="k", lw=0.8, ls=":", label="paper (341.2, GPU, 2048 units)")
    for k, (minutes, nats) in enumerate(TARGETS.items()):
        ax.plot([minutes], [nats], "kx", label=None if k else "targets (15 and 60 min)")
    budgets = sorted({p["minutes"] for points in record["machines"].values() for p in points.values()})
    colour = {m: plt.get_cmap("viridis")(k / max(1, len(budgets) - 1) * 0.85) for k, m in enumerate(budgets)}
    for points in record["machines"].values():  # one colour a budget: package solid, the port dotted
        for p in sorted(points.values(), key=lambda p: (p["minutes"], p["framework"])):
            horizons.plot(range(1, len(p["future_nats_per_horizon"]) + 1), p["future_nats_per_horizon"],
                          "-" if p["framework"] == "package" else ":", color=colour[p["minutes"]],
                          lw=1.8 if p["framework"] == "package" else 1.4,
                          label=f"{p['framework']}, {p['minutes']:g} min")
    horizons.set_xlabel("frames ahead (free-running)")
    horizons.set_ylabel("future nats/frame")
    horizons.set_title("per horizon, held-out")
    horizons.legend(fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("training minutes on 2 CPU cores (fit dashed: extrapolation beyond the last point)")
    ax.set_ylabel("future nats/frame (free-running, held-out)")
    ax.set_title("Bouncing MNIST of real MNIST digits: quality per compute")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_report(record, out_dir):
    lines = ["# Learning curve (bench/learning_curve.py)", "", record["protocol"], ""]
    for cpu, points in record["machines"].items():
        fitted = fits(points)
        lines += table(cpu, points, fitted)
    with open(os.path.join(out_dir, "learning_curve.md"), "w") as f:
        f.write("\n".join(lines))
    plot(record, os.path.join(out_dir, "learning_curve.png"))
    print("\n".join(lines))

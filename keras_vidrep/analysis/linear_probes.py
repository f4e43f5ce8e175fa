"""Linear probes: what a frozen representation holds of a known factor, scored on held-out sequences.

A class factor is probed by multinomial logistic regression and scored by accuracy; a number by ridge regression,
scored by R² (1 is perfect; 0 is the mean's score, below 0 worse). Inputs are standardized with the training
part's mean and deviation, and the regularisation strength is chosen by cross-validation on the training part only
(3 folds; with fewer than 3 examples of a class, the fixed C=1 since folds are impossible); the held-out sequences
are never used to choose anything. Every number is computed for several seeds, each with its own labelled subset.
NumPy and scikit-learn only.
"""
import warnings

import numpy as np
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, LogisticRegressionCV, RidgeCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from keras_vidrep.analysis.options import ALL_LABELS

C_GRID = np.logspace(-3, 1, 5)
TOLERANCE = 1e-3  # of the logistic fits, looser than scikit-learn's 1e-4 for speed (docs/speed.md)
ALPHA_GRID = np.logspace(-3, 4, 15)
ALL = ALL_LABELS  # labels_per_class meaning "the whole training part"


def fit_probe(x, y, is_class, seed=0):
    """A fitted probe (scikit-learn pipeline) of `y` from `x`."""
    if is_class:
        smallest = np.bincount(np.unique(y, return_inverse=True)[1]).min()
        probe = (LogisticRegressionCV(Cs=C_GRID, cv=3, max_iter=200, tol=TOLERANCE, random_state=seed)
                 if smallest >= 3 else LogisticRegression(C=1.0, max_iter=200, tol=TOLERANCE, random_state=seed))
    else:  # one or several numbers (columns of y), each with its own regularisation
        probe = RidgeCV(alphas=ALPHA_GRID, alpha_per_target=np.ndim(y) > 1)
    model = make_pipeline(StandardScaler(), probe)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", FutureWarning)  # scikit-learn's notices of changing defaults
        model.fit(x, y)
    return model


def r_squared(y, predicted):
    """1 - residual sum of squares / total sum of squares of `y` (n,)."""
    residual = np.sum((y - predicted) ** 2)
    return float(1.0 - residual / max(np.sum((y - y.mean()) ** 2), 1e-12))


def score(model, x, y, is_class):
    """Accuracy (classes) or R² (numbers) of a fitted probe on (x, y)."""
    if is_class:
        return float(np.mean(model.predict(x) == y))
    return r_squared(y, model.predict(x))


def labelled_subset(y, labels_per_class, seed, is_class, fraction=0.8):
    """Indices of the training part a seed's probe is fitted on: `labels_per_class` of each class (classes), or
    for `ALL` (and for numbers) a seeded `fraction` of it, so that seeds differ."""
    rng = np.random.default_rng([seed, 11])
    order = rng.permutation(len(y))
    if is_class and labels_per_class != ALL:
        chosen = [order[y[order] == c][:labels_per_class] for c in np.unique(y)]
        return np.sort(np.concatenate(chosen))
    return np.sort(order[:max(2, int(fraction * len(y)))])


def probe_numbers(train_x, train_ys, test_x, test_ys, seeds=(0, 1, 2)):
    """{name: [R² per seed]} of ridge probes for several numbers at once ({name: (n,) array} each), fitted on
    each seed's subset of the training part: one fit, a regularisation per number."""
    names = list(train_ys)
    train_y = np.stack([train_ys[n] for n in names], axis=1)
    test_y = np.stack([test_ys[n] for n in names], axis=1)
    out = {n: [] for n in names}
    for seed in seeds:
        chosen = labelled_subset(train_y[:, 0], ALL, seed, False)
        predicted = fit_probe(train_x[chosen], train_y[chosen], False, seed).predict(test_x).reshape(test_y.shape)
        for j, n in enumerate(names):
            out[n].append(r_squared(test_y[:, j], predicted[:, j]))
    return out


def probe_factor(train_x, train_y, test_x, test_y, is_class, labels_per_class=ALL, seeds=(0, 1, 2)):
    """Scores (one per seed) of probes fitted on each seed's labelled subset of the training part."""
    scores = []
    for seed in seeds:
        chosen = labelled_subset(train_y, labels_per_class, seed, is_class)
        if is_class and len(np.unique(train_y[chosen])) < 2:
            scores.append(float(np.mean(test_y == train_y[chosen][0])))  # one class seen: that class, always
            continue
        scores.append(score(fit_probe(train_x[chosen], train_y[chosen], is_class, seed), test_x, test_y, is_class))
    return scores


def pca_control(train_pixels, test_pixels, dim, seed=0):
    """Pixels reduced to `dim` components by a PCA fitted on the training part: (train, test) features."""
    dim = int(min(dim, train_pixels.shape[0] - 1, train_pixels.shape[1]))
    pca = PCA(n_components=dim, random_state=seed).fit(train_pixels)
    return pca.transform(train_pixels).astype(np.float32), pca.transform(test_pixels).astype(np.float32)


def chance(test_y, is_class):
    """The score of always answering the most frequent class (classes) or the mean (numbers: 0)."""
    if not is_class:
        return 0.0
    return float(np.bincount(np.unique(test_y, return_inverse=True)[1]).max() / len(test_y))


def summary(scores):
    """(mean, standard deviation) of a list of scores."""
    values = np.asarray(scores, np.float64)
    return float(values.mean()), float(values.std())

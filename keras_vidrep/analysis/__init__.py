"""After training: evaluation (metrics, baselines, predictors), linear probes of representations, embeddings and code
maps, experiments that chain the commands (few labels, ablation) and the pictures of vidrep-viz."""

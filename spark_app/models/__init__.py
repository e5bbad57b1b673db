"""The ML lifecycle: the model registry (versions, promotion), PCA fitting, classifier training, weights."""

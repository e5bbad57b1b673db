"""``python -m lambdas.replay list|run``: find failed batches and re-run one (an operator's command)."""

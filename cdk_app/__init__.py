"""CDK app of the Fruits! pipeline: one EU stack composed of one construct per concern."""

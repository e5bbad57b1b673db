"""CDK app of the Fruits! pipeline: one EU stack, one construct per concern, its props beside it."""

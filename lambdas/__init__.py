"""AWS Lambda functions of the Fruits! pipeline."""

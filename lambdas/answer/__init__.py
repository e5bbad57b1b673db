"""Answer Lambda: each photo created under the uploads prefix answered at once, with the batch's core code."""

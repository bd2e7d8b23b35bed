"""A sample AppFlow run: the files a run lands and what the pipeline must make of them."""

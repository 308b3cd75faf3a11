"""Training: a playlist CSV in, a published model out (fetch, load, mine, build, publish).

Imports the model package and the training stack (polars, efficient-apriori); the API
never imports this package.
"""

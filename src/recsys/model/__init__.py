"""The model: its file format, how it is built from rules, and the data directory it lives in.

Both sides use this package (training writes models, serving reads them), so it imports
neither: nothing here needs polars, efficient-apriori or FastAPI.
"""

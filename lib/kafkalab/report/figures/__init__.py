"""The report's plots, one module per concern; `common` holds what they share."""

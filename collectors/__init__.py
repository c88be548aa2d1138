"""Collectors take the app's telemetry in while it runs: the Collector contract and bounded
intake, the OTLP/HTTP receiver and its decoders, process log capture and the Prometheus scraper.
They import only the base (the table schema) and never crash a run on bad input."""

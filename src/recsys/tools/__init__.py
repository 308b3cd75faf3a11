"""Tools around the service: the HTTP client, the rollout probe, the demo, synthetic data
and offline evaluation. They may use every other package; nothing imports them but the CLI.
"""

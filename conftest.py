# Thin on purpose: the plugin holds the options, fixtures and reporting.
pytest_plugins = ("whisper_claims.plugin", "pytester")

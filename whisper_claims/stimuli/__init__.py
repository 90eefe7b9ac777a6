"""What the models hear and read: audio and log-mel, espeak-ng synthesis and its corpus, phones and
alignment files, the reference assets, word clips, the decoder's prompt corpus and the post's figures."""

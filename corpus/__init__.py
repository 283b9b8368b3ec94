"""The shipped reproducers (JSON data, no code), installed as `panicfuzz.shipped_corpus`."""

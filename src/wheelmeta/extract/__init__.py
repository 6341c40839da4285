"""read_metadata(source): the fallback chain over wheels/ and sdist/, for local paths or URLs."""

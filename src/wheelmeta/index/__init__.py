"""Package index client (PEP 503 HTML, PEP 691 JSON, find-links folders) and the provider that chooses an sdist or a
wheel for a Target by the user's preference."""

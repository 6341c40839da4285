"""Streamed ELF reader (dynamic segment, version needs), manylinux/musllinux policies as data, and the wheel audit."""

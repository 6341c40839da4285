"""Mach-O and PE binaries of macOS and Windows wheels: streamed readers (``macho``, ``pe``) built on macholib and
pefile, and the audits that say what each binary needs, what the wheel carries, what the platform provides and
whether the wheel's platform tag holds (``macos``, ``windows``). ``audit`` reads a wheel's members and picks one.
"""

"""The course pipeline: solution notebooks -> minimx package, student edition, book, releases.

Run it through the `./course` launcher at the repository root (`./course --help`).
"""

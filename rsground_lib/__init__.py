"""rsground_lib: the thin library behind the RSGround-R1 research book.

One module per concept of the paper (see the book's design page, ``book/design.md``).
Importing the package has no side effects: no seeding, no matplotlib style, no network.

Book chapter: "Design and our reading of the paper" (``book/design.md``).
"""

__version__ = "0.1.0"

__all__ = ["__version__"]

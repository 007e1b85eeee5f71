"""``python -m listmonk.testing``: a fake Listmonk in a process of its own."""

from .fake import main

main()

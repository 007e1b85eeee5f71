from . import inbound, listmonk, tracking

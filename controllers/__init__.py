from . import inbound, listmonk, subscribe, tracking

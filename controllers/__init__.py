from . import inbound, tracking

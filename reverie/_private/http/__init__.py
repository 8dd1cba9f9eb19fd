"""HTTP for a host: the ASGI application, routing, access control, the Plug client, the server."""

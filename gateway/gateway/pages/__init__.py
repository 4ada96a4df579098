"""The server-rendered pages of the portal."""

"""The control API: everything a test can do in-process, over HTTP (aiohttp)."""

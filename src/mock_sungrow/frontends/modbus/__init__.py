"""Modbus front ends: the application layer, the request path, framings and distortions."""

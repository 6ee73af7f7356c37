"""Recorded devices: dumps from real inverters, served as recorded (replay) and recorded anew."""

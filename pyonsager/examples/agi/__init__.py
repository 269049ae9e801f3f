"""Superionic alpha-AgI example: PRV potential table, structure, LAMMPS input, config."""

"""A local AWS for headroom's tests and demo: moto's server plus what moto lacks.

Production code never imports this package. See sandbox/server.py (Sandbox) and sandbox/fleet.py.
"""

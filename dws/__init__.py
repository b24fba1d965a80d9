"""dws: the operator's toolkit for the three-tier Docker Swarm tutorial.

The swarm lab, the stand-in base images, the loopback process harness
(MariaDB, gunicorn, nginx), the tutorial replay and the benchmark, behind
one command line: ``dws`` (or ``python -m dws``).
"""

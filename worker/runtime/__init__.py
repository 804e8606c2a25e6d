"""The RQ runtime: worker processes, crash recovery, maintenance, failed jobs, Redis topology.

The job functions themselves stay in ``worker/jobs.py``: RQ stores their dotted paths in queued jobs.
"""

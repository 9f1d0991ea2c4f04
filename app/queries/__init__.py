"""The read side: read models and the SQL of the hot read paths, on the request's read connection (outside the zope
transaction; app/extensions.py `read_connection`). Services call these to answer reads; writes go through a unit of
work (app/services/ports.py) instead."""

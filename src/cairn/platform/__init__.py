"""A seized platform's records in a case: import (records.py), who is who (resolve.py) and
what more than one case or country holds (deconflict.py)."""

"""planted_engines.OverwriteMul in a module that takes 2 s to import. Each new worker imports it
again, so an interrupted check's wind-up (each finding confirmed alone in a new worker) lasts
seconds whatever the machine's speed: time for a second signal to land while it saves."""

import time

from planted_engines import OverwriteMul

time.sleep(2.0)


class Value(OverwriteMul):
    pass

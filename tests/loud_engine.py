"""An engine whose module, on import, sends the root logger's records to stdout at INFO level and
prints there (as an engine with a rich console handler once did), and whose backward() prints
too. `gradoracle check loud_engine:Value --json` must still print one JSON object on stdout."""

from __future__ import annotations

import logging
import sys

from planted_engines import ClosureValue

logging.basicConfig(stream=sys.stdout, level=logging.INFO, force=True)
print("loud_engine: imported")
logging.getLogger("loud_engine").info("a log line on stdout")


class Value(ClosureValue):
    def backward(self) -> None:
        print("backward!")
        logging.getLogger("loud_engine").info("backward on stdout")
        super().backward()

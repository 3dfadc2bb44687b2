"""The proxy's chat traffic as records: the rows and checks the notebook inspector and
the live traffic page share (`rows`), the recent requests (`log`), and the history file
(`history`, `--history FILE`)."""

from chatmock_lab.traffic.history import HistoryFile, read_history
from chatmock_lab.traffic.log import TrafficEntry, TrafficLog, TrafficRecord
from chatmock_lab.traffic.rows import ChunkRow, RowBuilder

__all__ = [
    "ChunkRow",
    "HistoryFile",
    "RowBuilder",
    "TrafficEntry",
    "TrafficLog",
    "TrafficRecord",
    "read_history",
]

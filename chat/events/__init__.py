"""Room events between processes: building them once (``outbound``), publishing them
after commit (``publisher``), and handing them to the other processes that listen
(``peers``)."""

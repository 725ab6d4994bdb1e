"""A dependency-free one-line progress bar for the commands (benchmark
report, examples)."""
import sys


class Progress:
    """A one-line progress bar on a terminal: ``[#####.....] 12/40 label``.

    Silent when `stream` is not a terminal (logs, pipes, tests) unless
    `force` is set; the bar is erased by `close`.

    Examples
    --------
    >>> import io
    >>> out = io.StringIO()
    >>> p = Progress(4, stream=out, force=True, width=4)
    >>> p.step("a"); p.close()
    >>> "[#...] 1/4 a" in out.getvalue()
    True
    """

    def __init__(self, total, stream=None, force=False, width=30):
        self.total = max(int(total), 1)
        self.done = 0
        self.width = width
        self.stream = sys.stderr if stream is None else stream
        isatty = getattr(self.stream, "isatty", lambda: False)()
        self.enabled = bool(force or isatty)
        self._last = 0

    def step(self, label="", n=1):
        """Count `n` units of work done and redraw with `label`."""
        self.done = min(self.total, self.done + n)
        self.draw(label)

    def draw(self, label=""):
        """Redraw the bar as it stands, with `label`."""
        if not self.enabled:
            return
        filled = self.width * self.done // self.total
        line = (f"[{'#' * filled}{'.' * (self.width - filled)}] "
                f"{self.done}/{self.total} {label}")[:119]
        self.stream.write("\r" + line.ljust(self._last))
        self.stream.flush()
        self._last = len(line)

    def close(self, keep=False):
        """Erase the bar (a report then goes to stdout, clean), or with
        `keep` leave it as a finished line."""
        if self.enabled and self._last:
            self.stream.write("\n" if keep else "\r" + " " * self._last + "\r")
            self.stream.flush()

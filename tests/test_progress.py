from whisper_claims import progress


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_first_last_and_one_line_per_interval():
    lines, clock = [], Clock()
    sink = progress.Throttled(lines.append, interval_s=5, clock=clock)
    for step in range(1, 11):
        clock.now = step * 2.0  # a report every 2 s
        sink("stage", step, 10)
    assert lines == ["stage 1/10 (10%, 0 s)", "stage 4/10 (40%, 6 s)", "stage 7/10 (70%, 12 s)",
                     "stage 10/10 (100%, 18 s)"]


def test_a_stage_run_again_starts_anew():
    lines, clock = [], Clock()
    sink = progress.Throttled(lines.append, interval_s=5, clock=clock)
    sink("s", 1, 1)
    clock.now = 100
    sink("s", 1, 2)
    assert lines == ["s 1/1 (100%, 0 s)", "s 1/2 (50%, 0 s)"]


def test_listeners_are_removed_even_when_the_block_raises():
    seen = []
    try:
        with progress.listening(lambda *a: seen.append(a)):
            progress.report("a", 1, 2)
            raise RuntimeError
    except RuntimeError:
        pass
    progress.report("b", 1, 2)
    assert seen == [("a", 1, 2)]


def test_counted_reports_after_each_item():
    seen = []
    with progress.listening(lambda *a: seen.append(a)):
        assert list(progress.counted("xy", "letters", 2)) == ["x", "y"]
    assert seen == [("letters", 1, 2), ("letters", 2, 2)]

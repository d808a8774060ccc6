"""The turns a process's sockets take among the feed's batches stay even (pricefeed/phases.py)."""

from hypothesis import given
from hypothesis import strategies as st

from pricefeed.phases import Phases


def test_sockets_that_come_in_one_storm_share_the_turns():
    phases = Phases()
    dues = [phases.first(n, 5, 2) for n in range(11)]
    assert phases.sizes(2) == [5, 6]
    assert dues[0] == 7, "on a tie, the usual next turn: `every` batches on"
    assert set(dues) == {6, 7}


def test_a_turn_left_by_many_is_refilled_from_the_fuller_one_by_earlier_frames_only():
    phases = Phases()
    for n in range(20):
        phases.first(n, 1, 2)  # 10 in each turn
    for n in range(20):
        if phases.turn(n) == 1 and n % 4:  # most of one turn leaves
            phases.release(n)
    before = phases.sizes(2)
    assert before[0] - before[1] >= 4
    moved = 0
    for n in range(20):
        turn = phases.turn(n)
        if turn is None:
            continue
        due = 100 + turn  # its next turn's batch
        got = phases.next(n, due)
        assert due - 2 < got <= due, "never later than its turn, at most one turn earlier"
        moved += got != due
    after = phases.sizes(2)
    assert abs(after[0] - after[1]) <= 1
    assert moved == (before[0] - before[1]) // 2


@given(st.lists(st.tuples(st.sampled_from(["first", "next", "release"]), st.integers(0, 30), st.integers(0, 50))))
def test_counts_match_the_listeners_and_every_due_is_in_its_turn(ops):
    phases, every, turn = Phases(), 3, {}
    for op, listener, batch in ops:
        if op == "first":
            due = phases.first(listener, batch, every)
            assert batch < due <= batch + every
            turn[listener] = due % every
        elif op == "next" and listener in turn:
            due = batch - batch % every + every + turn[listener]
            got = phases.next(listener, due)
            assert due - every < got <= due
            turn[listener] = got % every
        elif op == "release":
            phases.release(listener)
            turn.pop(listener, None)
        sizes = phases.sizes(every)
        assert sizes == [sum(1 for t in turn.values() if t == p) for p in range(every)]


def test_only_the_moves_needed_are_made():
    """Four turns of 2, 10, 10, 10: six listeners move (two from each full turn), not more."""
    phases, every = Phases(), 4
    for n in range(40):
        phases.first(n, 0, every)
    left = [n for n in range(40) if phases.turn(n) == 0][:8]
    for n in left:
        phases.release(n)
    assert sorted(phases.sizes(every)) == [2, 10, 10, 10]
    moved = 0
    for step in range(4, 12):  # two rounds of turns, each listener at its own step
        for n in range(40):
            if phases.turn(n) == step % every:
                moved += phases.next(n, step) != step
    assert phases.sizes(every) == [8, 8, 8, 8]
    assert moved == 6

"""Successive halving over a fixed list of points, as a KerasTuner Oracle.

Every point trains `min_epochs` epochs (rung 0); the best 1/eta of a rung continue from their
checkpoints to eta times the epochs (rung 1), and so on up to `epochs`. Each rung of a point is
its own trial, with KerasTuner's Hyperband conventions in its values: `tuner/epochs` (epochs
trained when the trial ends), `tuner/initial_epoch` (epochs inherited), `tuner/round` (the rung),
`tuner/bracket` (always 0: one bracket) and `tuner/trial_id` (the trial continued). Every trial's
learning-rate schedule spans `epochs`, so a point trained through the rungs is the same run as one
trained `epochs` epochs at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import keras_tuner

from effnet_keras.bounds import Bounds, range_problem
from effnet_keras.tuner.oracle import PointsOracle
from effnet_keras.tuner.space import SpaceError

TrialStatus = keras_tuner.engine.trial.TrialStatus
FINISHED = (TrialStatus.COMPLETED, TrialStatus.FAILED, TrialStatus.INVALID)


@dataclass(frozen=True)
class Rung:
    """`points` points train from epoch `start` to epoch `epochs` (totals of the run, not increments)."""

    index: int
    points: int
    start: int
    epochs: int


def plan_rungs(points: int, min_epochs: int, epochs: int, eta: int) -> list[Rung]:
    """The rungs of successive halving: all `points` train `min_epochs` epochs, then each rung keeps
    max(1, n // eta) of the n before it and trains them to eta times the epochs, capped at `epochs`;
    once one point is left it goes straight to `epochs`. SpaceError for an impossible budget."""
    if problem := (range_problem("--reduction", eta, Bounds(2))
                   or range_problem("--min-epochs", min_epochs, Bounds(1, epochs))):
        raise SpaceError(problem)
    if points < 1:
        raise SpaceError("successive halving needs at least one point.")
    rungs, start, kept = [], 0, points
    while start < epochs:
        budget = epochs if kept == 1 else min(epochs, min_epochs * eta ** len(rungs))
        rungs.append(Rung(len(rungs), kept, start, budget))
        start, kept = budget, max(1, kept // eta)
    return rungs


def promote(scores: Sequence[float | None], count: int) -> list[int]:
    """Indices of the `count` best scores (higher is better), best first; ties go to the lower
    index; a None score (a failed trial) is never promoted."""
    ranked = sorted((i for i, score in enumerate(scores) if score is not None), key=lambda i: (-scores[i], i))
    return ranked[:count]


class HalvingOracle(PointsOracle):
    """Successive halving (see the module docstring) over `points`, reloadable from its trials.

    Which trials exist is read from the trials themselves, so a reloaded oracle (resume after a
    kill, or a chief) carries on at the rung where it stopped; a rung's promotions are issued only
    once every trial of the rung has finished (IDLE until then, for workers of a distributed
    search)."""

    def __init__(self, points: list[dict], signature: dict, min_epochs: int, epochs: int, eta: int = 3,
                 objective: str = "val_accuracy", **kwargs):
        rungs = plan_rungs(len(points), min_epochs, epochs, eta)
        schedule = {"algorithm": "halving", "min_epochs": min_epochs, "epochs": epochs, "eta": eta}
        super().__init__(points, {**signature, **schedule}, objective=objective, **kwargs)
        self.rungs, self.max_trials = rungs, sum(r.points for r in rungs)

    def _rung_trials(self, index: int) -> list:
        return [t for t in self.trials.values() if t.hyperparameters.values.get("tuner/round") == index]

    def _entrants(self, rung: Rung) -> list[tuple[dict, str | None]] | None:
        """(point, trial it continues) for every point of `rung`; None while the rung before is unfinished."""
        if rung.index == 0:
            return [(point, None) for point in self.points]
        order = {self.key(point): i for i, point in enumerate(self.points)}
        before = sorted(self._rung_trials(rung.index - 1), key=lambda t: order[self.key(t.hyperparameters.values)])
        if len(before) < self.rungs[rung.index - 1].points or any(t.status not in FINISHED for t in before):
            return None
        scores = [t.score if t.status == TrialStatus.COMPLETED else None for t in before]
        chosen = [before[i] for i in promote(scores, rung.points)]
        return [({n: t.hyperparameters.values[n] for n in self.names}, t.trial_id) for t in chosen]

    def populate_space(self, trial_id: str) -> dict:
        """The next point of the first rung with one not issued (its values carry the rung's `tuner/...`
        budget), RUNNING; IDLE while that rung waits for the one before to finish; STOPPED when all are issued."""
        for rung in self.rungs:
            entrants = self._entrants(rung)
            if entrants is None:
                return {"status": TrialStatus.IDLE}
            issued = {self.key(t.hyperparameters.values) for t in self._rung_trials(rung.index)}
            for point, parent in entrants:
                if self.key(point) not in issued:
                    values = {**point, "tuner/epochs": rung.epochs, "tuner/initial_epoch": rung.start,
                              "tuner/bracket": 0, "tuner/round": rung.index}
                    return {"status": TrialStatus.RUNNING,
                            "values": {**values, "tuner/trial_id": parent} if parent else values}
        return {"status": TrialStatus.STOPPED}

"""A KerasTuner Oracle that proposes only feasible compound-scaling points, in a fixed order."""

from __future__ import annotations

import keras_tuner

from tuner.space import SearchSpace, SpaceError, point_dict, point_of


class CompoundScalingOracle(keras_tuner.Oracle):
    """Enumerates the feasible (alpha, beta, gamma) points of a `SearchSpace` once each.

    It never proposes an infeasible point and never fails a trial to reject one. Which points
    were issued is read from the trials themselves, so a reloaded oracle (resume, or the chief of
    a distributed search) continues where it stopped; an interrupted trial is re-run by
    KerasTuner's retry queue with the same id. The space's signature is part of the saved state:
    a project directory made by a different search space is refused.
    """

    def __init__(self, space: SearchSpace, points: list, objective="val_accuracy", max_trials: int | None = None,
                 **kwargs):
        hp = keras_tuner.HyperParameters()
        for i, name in enumerate(("alpha", "beta", "gamma")):
            hp.Choice(name, sorted({p[i] for p in points}), ordered=True)
        super().__init__(objective=objective, max_trials=min(max_trials or len(points), len(points)),
                         hyperparameters=hp, allow_new_entries=False, tune_new_entries=False,
                         max_consecutive_failed_trials=1, **kwargs)
        self.space, self.points = space, [tuple(p) for p in points]

    def populate_space(self, trial_id: str) -> dict:
        issued = {point_of(t.hyperparameters.values) for t in self.trials.values()}
        for point in self.points:
            if point not in issued:
                return {"status": keras_tuner.engine.trial.TrialStatus.RUNNING, "values": point_dict(point)}
        return {"status": keras_tuner.engine.trial.TrialStatus.STOPPED}

    def get_state(self) -> dict:
        state = super().get_state()
        state["compound_space"] = self.space.signature()
        state["feasible_points"] = [list(p) for p in self.points]
        return state

    def set_state(self, state: dict) -> None:
        saved = state.get("compound_space")
        if saved != self.space.signature():
            raise SpaceError(f"The project directory was made by a different search space ({saved}); this command "
                             f"asks for {self.space.signature()}. Use another --project-name or --directory, or "
                             "repeat the original command to resume it.")
        super().set_state(state)

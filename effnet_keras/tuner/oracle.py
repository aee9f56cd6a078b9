"""A KerasTuner Oracle over a fixed, ordered list of points (each a dict of hyperparameter values)."""

from __future__ import annotations

import keras_tuner

from effnet_keras.tuner.space import PointKey, SpaceError, point_key


class PointsOracle(keras_tuner.Oracle):
    """Proposes each point of `points` once, in order, then stops.

    Used for the compound-scaling search (only feasible (alpha, beta, gamma) are ever listed, so
    no trial is failed to reject a point), the one-dimension study and the model comparison.
    Which points were issued is read from the trials themselves, so a reloaded oracle (resume, or
    the chief of a distributed search) continues where it stopped; an interrupted trial is re-run
    by KerasTuner's retry queue under the same id. `signature` (what defines the project: its kind,
    points and constraint) is saved with the state: a project directory made by a different one
    is refused.
    """

    def __init__(self, points: list[dict], signature: dict, objective: str = "val_accuracy",
                 max_trials: int | None = None, **kwargs):
        hp = keras_tuner.HyperParameters()
        for name in points[0]:
            values = sorted({p[name] for p in points}, key=lambda v: (isinstance(v, str), v))
            hp.Choice(name, values, ordered=not isinstance(values[0], str))
        super().__init__(objective=keras_tuner.Objective(objective, "max"),
                         max_trials=min(max_trials or len(points), len(points)), hyperparameters=hp,
                         allow_new_entries=False, tune_new_entries=False, max_consecutive_failed_trials=1, **kwargs)
        self.points, self.signature = points, {**signature, "objective": objective}
        self.names = list(points[0])

    def key(self, values: dict) -> PointKey:
        """The `point_key` of a point or of a trial's values (other entries, e.g. `tuner/...`, ignored)."""
        return point_key(values, self.names)

    def populate_space(self, trial_id: str) -> dict:
        """The first point (by `key`) no trial holds yet, RUNNING; STOPPED once every point is issued."""
        issued = {self.key(t.hyperparameters.values) for t in self.trials.values()}
        for point in self.points:
            if self.key(point) not in issued:
                return {"status": keras_tuner.engine.trial.TrialStatus.RUNNING, "values": dict(point)}
        return {"status": keras_tuner.engine.trial.TrialStatus.STOPPED}

    def get_state(self) -> dict:
        return {**super().get_state(), "project": self.signature, "points": self.points}

    def set_state(self, state: dict) -> None:
        check_signature(state, self.signature)
        super().set_state(state)


def check_signature(state: dict, signature: dict) -> None:
    """SpaceError unless an oracle state read from a project directory was saved with `signature`."""
    if state.get("project") != signature:
        raise SpaceError(f"The project directory was made by a different {signature['kind']} "
                         f"({state.get('project')}); this command asks for {signature}. Use another "
                         "--project-name or --directory, or repeat the original command to resume it.")

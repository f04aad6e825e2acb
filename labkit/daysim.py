"""A day of agent use, minute by minute: restaurant (shared instances) vs personal chef.

Home notebook: notebooks/01_restaurant_vs_personal_chef.ipynb.

Users start sessions with a daily rhythm (a morning and an afternoon peak) and leave after
an exponentially distributed time, so the number active at once is a birth-death process
simulated with numpy. Two ways to serve them:
- restaurant: each application runs a pool of shared instances, each serving up to
  `capacity` users at once, scaled to demand (never below one per application);
- personal chef: one instance per active user and task, started when the task starts and
  gone when it ends.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MINUTES_PER_DAY = 24 * 60
_HOURS = np.arange(MINUTES_PER_DAY) / 60


def _office_shape() -> np.ndarray:
    """A working day's demand shape: peaks at 10:00 and 15:00, a lunch dip, quiet nights."""
    def bump(centre, width, height):
        return height * np.exp(-0.5 * ((_HOURS - centre) / width) ** 2)
    return bump(10, 1.6, 1.0) + bump(15, 1.8, 0.9) + bump(20.5, 1.2, 0.25)


_SHAPE = _office_shape()
MAX_PEAK_TO_AVERAGE = float(_SHAPE.max() / _SHAPE.mean())


def rhythm(peak_to_average: float) -> np.ndarray:
    """Demand per minute relative to the daily mean (mean 1, maximum = peak_to_average)."""
    if not 1 <= peak_to_average <= MAX_PEAK_TO_AVERAGE:
        raise ValueError(f"peak_to_average must be between 1 and {MAX_PEAK_TO_AVERAGE:.2f}, "
                         f"got {peak_to_average!r}")
    weight = (peak_to_average - 1) / (MAX_PEAK_TO_AVERAGE - 1)
    return (1 - weight) + weight * _SHAPE / _SHAPE.mean()


@dataclass(frozen=True)
class Day:
    """One simulated day, a value per minute, and the totals a reader asks about."""

    hours: np.ndarray                 # time of day of each minute, in hours
    active_users: np.ndarray          # users with a session running
    restaurant_instances: np.ndarray  # shared instances running (all applications)
    chef_instances: np.ndarray        # one per active user and task
    restaurant_utilisation: np.ndarray  # seats in use / seats provisioned
    chef_starts: int                  # instances the personal chefs started in the day
    restaurant_starts: int            # instances the restaurants started in the day
    session_minutes: float = 20.0     # the assumed mean session length (sets the start rate)

    @property
    def peak_users(self) -> int:
        return int(self.active_users.max())

    @property
    def peak_chef(self) -> int:
        return int(self.chef_instances.max())

    @property
    def peak_restaurant(self) -> int:
        return int(self.restaurant_instances.max())

    def summary(self) -> str:
        """The day's numbers in a few lines (what the notebook prints)."""
        return (f"peak active users:             {self.peak_users:>9,}\n"
                f"restaurant instances at peak:  {self.peak_restaurant:>9,}\n"
                f"personal chefs at peak:        {self.peak_chef:>9,}\n"
                f"instances started in the day:  restaurant {self.restaurant_starts:,}, "
                f"personal chef {self.chef_starts:,}\n"
                f"mean session length (assumed): {self.session_minutes:>9g} min")


def simulate_day(users: int = 10_000, concurrency: float = 0.15, capacity: int = 500,
                 peak_to_average: float = 2.5, tasks_per_user: int = 1,
                 applications: int = 1, session_minutes: float = 20.0,
                 seed: int = 1) -> Day:
    """Simulate one day (after a day of warm-up so it starts in steady state); seeded."""
    _require_int("users", users, 1)
    _require_int("capacity", capacity, 1)
    _require_int("tasks_per_user", tasks_per_user, 1)
    _require_int("applications", applications, 1)
    if not 0 < concurrency <= 1:
        raise ValueError(f"concurrency must be a fraction above 0 and at most 1, "
                         f"got {concurrency!r}")
    if not session_minutes > 0:
        raise ValueError(f"session_minutes must be more than 0, got {session_minutes!r}")
    shape = rhythm(peak_to_average)
    if concurrency * peak_to_average > 1:
        raise ValueError(f"concurrency x peak_to_average = {concurrency * peak_to_average:.2f} "
                         "would need more users active than exist; lower one of them")
    # Little's law: to hold users*concurrency*shape active with sessions of this mean
    # length, sessions must start at that many / session_minutes per minute.
    target = users * concurrency * np.tile(shape, 2)
    arrival_rate = target / session_minutes
    leave_prob = 1 - np.exp(-1 / session_minutes)
    rng = np.random.default_rng(seed)
    arrivals = rng.poisson(arrival_rate)
    active = np.empty(target.size, dtype=np.int64)
    current = int(round(target[0]))
    for minute in range(target.size):  # 2,880 steps: fast enough for a slider
        current = current - rng.binomial(current, leave_prob) + arrivals[minute]
        current = min(current, users)
        active[minute] = current
    day = slice(MINUTES_PER_DAY, 2 * MINUTES_PER_DAY)
    active_users = active[day]
    per_app = np.ceil(active_users / applications / capacity)
    restaurant = (applications * np.maximum(per_app, 1)).astype(np.int64)
    chefs = active_users * tasks_per_user
    restaurant_prev = np.concatenate([[restaurant[0]], restaurant[:-1]])
    return Day(
        hours=_HOURS.copy(),
        active_users=active_users,
        restaurant_instances=restaurant,
        chef_instances=chefs,
        restaurant_utilisation=active_users / (restaurant * capacity),
        chef_starts=int(arrivals[day].sum()) * tasks_per_user,
        restaurant_starts=int(np.clip(restaurant - restaurant_prev, 0, None).sum()),
        session_minutes=float(session_minutes),
    )


def _require_int(name: str, value, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be a whole number, {minimum} or more, got {value!r}")

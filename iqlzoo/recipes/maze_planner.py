"""Planning through the cells of a Gymnasium-Robotics maze, and a waypoint controller built on it.

The maze is the ``maze_map`` of ``gymnasium_robotics`` (rows of ``1`` = wall, anything else = open cell) with its
coordinate convention: cell ``(i, j)`` has its centre at ``x = (j + 0.5)·s − W·s/2``, ``y = H·s/2 − (i + 0.5)·s``
for a map of ``H`` rows, ``W`` columns and cell size ``s`` (4 for AntMaze).

:class:`MazePlanner` solves "reach ``goal`` cell" by Q-iteration on the cell grid, as D4RL's and Minari's maze data
generators did: four moves (up, down, left, right; a move into a wall stays put), reward 1 for entering the goal,
discount ``gamma``; the greedy policy of the converged Q-table is a shortest path. Tables are cached per goal.

:class:`WaypointController` turns the plan into a sequence of (x, y) targets for a low-level controller: the centre
of the next cell on the path, jittered uniformly by up to ``jitter`` per axis (D4RL/Minari add such jitter so that
trajectories vary), then the exact goal once the agent is in the goal's cell or the next cell is the goal's.
A waypoint counts as reached within ``threshold`` (0.45, the AntMaze success radius). The controller replans when
the goal moves or when the agent leaves the cell it was planning from without reaching its waypoint (pushed by a
wall or by action noise), so it never steers across a wall towards a stale target.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

Cell = tuple[int, int]
MOVES: tuple[Cell, ...] = ((-1, 0), (1, 0), (0, -1), (0, 1))  # up, down, left, right in (row, column)


class UnreachableGoalError(ValueError):
    """The goal cell cannot be reached from the start cell (walls separate them), or a cell is not open."""


class MazePlanner:
    """Shortest paths between open cells of ``maze_map`` by Q-iteration.

    Args:
        maze_map: Rows of cells; ``1`` is a wall, any other value (0, "r", "g", "c") an open cell.
        cell_size: Edge length of one cell in world units (AntMaze: 4).
        gamma: Discount of the Q-iteration; any value in (0, 1) gives shortest paths.
    """

    def __init__(self, maze_map: Sequence[Sequence[int | str]], cell_size: float = 4.0, gamma: float = 0.95) -> None:
        rows = {len(row) for row in maze_map}
        if not maze_map or len(rows) != 1:
            raise ValueError("maze_map must be a non-empty list of rows of equal length")
        if not 0.0 < gamma < 1.0:
            raise ValueError(f"gamma must lie in (0, 1), got {gamma}")
        self.maze_map = [list(row) for row in maze_map]
        self.height = len(self.maze_map)
        self.width = rows.pop()
        self.cell_size = float(cell_size)
        self.gamma = gamma
        self.open_cells: list[Cell] = [
            (i, j) for i in range(self.height) for j in range(self.width) if self.maze_map[i][j] != 1
        ]
        self._index = {cell: k for k, cell in enumerate(self.open_cells)}
        self._next = np.array(
            [[self._index.get((i + di, j + dj), self._index[(i, j)]) for di, dj in MOVES] for i, j in self.open_cells],
            dtype=np.int64,
        )
        self._q: dict[Cell, np.ndarray] = {}

    def is_open(self, cell: Cell) -> bool:
        """Whether ``cell`` lies inside the map and is not a wall."""
        return cell in self._index

    def cell_of(self, xy: np.ndarray) -> Cell:
        """The (row, column) of the cell containing world point ``xy`` (may be a wall or outside the map)."""
        i = int(np.floor((self.height * self.cell_size / 2 - float(xy[1])) / self.cell_size))
        j = int(np.floor((float(xy[0]) + self.width * self.cell_size / 2) / self.cell_size))
        return i, j

    def cell_center(self, cell: Cell) -> np.ndarray:
        """World (x, y) of the centre of ``cell``."""
        i, j = cell
        return np.array(
            [(j + 0.5) * self.cell_size - self.width * self.cell_size / 2,
             self.height * self.cell_size / 2 - (i + 0.5) * self.cell_size]
        )

    def nearest_open_cell(self, xy: np.ndarray) -> Cell:
        """The open cell whose centre is closest to ``xy`` (the containing cell when that one is open)."""
        cell = self.cell_of(xy)
        if self.is_open(cell):
            return cell
        centres = np.array([self.cell_center(c) for c in self.open_cells])
        return self.open_cells[int(np.argmin(np.linalg.norm(centres - np.asarray(xy)[:2], axis=1)))]

    def q_table(self, goal: Cell) -> np.ndarray:
        """Converged Q-values ``(n_open_cells, 4)`` for reaching ``goal``; zero rows mark cells that cannot."""
        if not self.is_open(goal):
            raise UnreachableGoalError(f"goal cell {goal} is a wall or outside the {self.height}x{self.width} maze")
        if goal not in self._q:
            goal_index = self._index[goal]
            enters_goal = self._next == goal_index
            q = np.zeros(self._next.shape)
            for _ in range(len(self.open_cells) + 1):
                value = q.max(axis=1)
                value[goal_index] = 0.0  # the goal is absorbing: nothing is earned after entering it
                updated = np.where(enters_goal, 1.0, self.gamma * value[self._next])
                if np.array_equal(updated, q):
                    break
                q = updated
            self._q[goal] = q
        return self._q[goal]

    def next_cell(self, cell: Cell, goal: Cell) -> Cell:
        """The neighbour of ``cell`` to enter next on a shortest path to ``goal`` (``goal`` itself when there)."""
        if not self.is_open(cell):
            raise UnreachableGoalError(f"cell {cell} is a wall or outside the {self.height}x{self.width} maze")
        if cell == goal:
            return goal
        q = self.q_table(goal)[self._index[cell]]
        if q.max() <= 0.0:
            raise UnreachableGoalError(f"goal cell {goal} cannot be reached from cell {cell}: walls separate them")
        return self.open_cells[int(self._next[self._index[cell], int(np.argmax(q))])]

    def path(self, start: Cell, goal: Cell) -> list[Cell]:
        """The cells from ``start`` to ``goal`` inclusive along a shortest path."""
        cells = [start]
        while cells[-1] != goal:
            cells.append(self.next_cell(cells[-1], goal))
        return cells


class WaypointController:
    """Gives the next (x, y) target on the way to a goal; see the module docstring.

    Args:
        planner: The maze's planner.
        threshold: Distance at which an intermediate waypoint counts as reached.
        jitter: Maximum uniform offset per axis added to intermediate waypoints (cell centres).
        rng: Random generator for the jitter.
    """

    def __init__(
        self, planner: MazePlanner, threshold: float = 0.45, jitter: float = 0.2, rng: np.random.Generator | None = None
    ) -> None:
        self.planner = planner
        self.threshold = threshold
        self.jitter = jitter
        self.rng = rng if rng is not None else np.random.default_rng()
        self._goal: np.ndarray | None = None
        self._goal_cell: Cell = (-1, -1)
        self._from_cell: Cell = (-1, -1)
        self._target_cell: Cell = (-1, -1)
        self._target = np.zeros(2)

    def reset(self) -> None:
        """Forget the current plan (call when the agent is teleported, e.g. at an environment reset)."""
        self._goal = None

    def _aim_from(self, cell: Cell) -> None:
        self._from_cell = cell
        self._target_cell = self.planner.next_cell(cell, self._goal_cell)
        if self._target_cell == self._goal_cell:
            assert self._goal is not None
            self._target = self._goal.copy()
        else:
            offset = self.rng.uniform(-self.jitter, self.jitter, size=2)
            self._target = self.planner.cell_center(self._target_cell) + offset

    def waypoint(self, position: np.ndarray, goal: np.ndarray) -> np.ndarray:
        """The target (x, y) for an agent at ``position`` heading to ``goal``.

        Raises:
            UnreachableGoalError: if walls separate the agent's cell from the goal's cell.
        """
        position = np.asarray(position, dtype=np.float64)[:2]
        goal = np.asarray(goal, dtype=np.float64)[:2]
        current = self.planner.cell_of(position)
        if self._goal is None or np.linalg.norm(goal - self._goal) > 1e-6:
            self._goal = goal.copy()
            self._goal_cell = self.planner.nearest_open_cell(goal)
            self._aim_from(self.planner.nearest_open_cell(position))
        elif self._target_cell != self._goal_cell:
            if np.linalg.norm(self._target - position) <= self.threshold:
                self._aim_from(self._target_cell)
            elif self.planner.is_open(current) and current not in (self._from_cell, self._target_cell):
                self._aim_from(current)
        return self._target.copy()

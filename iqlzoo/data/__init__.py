"""Offline data: transition datasets, Minari adapters, observation flattening and the training buffer."""

from iqlzoo.data.buffer import TransitionBuffer
from iqlzoo.data.minari import DatasetNotFoundError, from_minari, load_dataset
from iqlzoo.data.spaces import ObservationFlattener
from iqlzoo.data.transitions import TransitionDataset

__all__ = [
    "DatasetNotFoundError",
    "ObservationFlattener",
    "TransitionBuffer",
    "TransitionDataset",
    "from_minari",
    "load_dataset",
]

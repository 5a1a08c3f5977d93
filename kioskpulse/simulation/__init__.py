"""The simulator: a ground-truth model of visitors, played as kiosks and cameras over HTTP.

    fleet      which devices to post as, with their tokens (devices file + tokens.yaml)
    model      pure and seeded: θ per store, visitors, presses, follow-up answers, camera
               observations
    truth      what really happened per store (θ, true Happy Index, visitors, presses)
    displays   display cameras' watchers, with a known effect per label, and relabels
    posting    device requests with retries and the stats of what the API answered
    driver     plays the model in real time through an ``httpx.AsyncClient``
    console    ``kioskpulse simulate``: progress and summary on the terminal

Exceptions::

    FleetError (RegistryError)   the devices file and its tokens make no usable fleet
"""

from kioskpulse.simulation.driver import Simulation, simulate
from kioskpulse.simulation.fleet import (
    FleetError,
    SimulatedCamera,
    SimulatedKiosk,
    SimulatedStore,
    load_fleet,
)
from kioskpulse.simulation.model import ModelParameters
from kioskpulse.simulation.posting import SimulatorStats
from kioskpulse.simulation.truth import StoreTruth

__all__ = [
    "FleetError",
    "ModelParameters",
    "SimulatedCamera",
    "SimulatedKiosk",
    "SimulatedStore",
    "Simulation",
    "SimulatorStats",
    "StoreTruth",
    "load_fleet",
    "simulate",
]

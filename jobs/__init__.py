"""What a job is and how it runs: the result kinds, the model catalogue, environments, sweeps and
executors. Importing the package registers the result kinds (jobs/kinds/), which db/ and render/
loop over but never import."""

from jobs import kinds  # noqa: F401

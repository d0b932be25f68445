"""What a job is and how it runs: the model catalogue, environments, sweeps and executors."""

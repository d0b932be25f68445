"""Where jobs run. base.py: the Executor interface and what every executor shares; local.py: this
machine's slots, each job forked by our job server (job_server.py), one job per device across
sweeps (device_locks.py), jobs compiling beside the measuring one taking turns on the device
(device_turn.py); ray_cluster.py: the same jobs as Ray tasks. None imports torch: the invoke
process runs them (tests/test_layout.py)."""

"""Fuzz campaigns spread over a cluster's machines (docs/cluster.md).

The daemon stays the one owner of a run and its storage: ``campaign`` (imported only
when a run names a cluster, so that nothing of Ray is imported otherwise) splits the
run's case indices into Ray tasks, and stores what they answer in seed order; ``node``
is what a task runs on a cluster's machine -- the daemon's own case runner, with warm
script workers kept in each Ray worker process between tasks.
"""

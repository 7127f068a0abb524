"""Reading what a fleet did: rosbag2 files (reindexing a killed recorder's bag), the per-robot
analysis of deadline misses and energy, and its tables."""

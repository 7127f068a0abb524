"""ROS 2 nodes of robust_offload: thin wrappers that turn messages into calls of the core."""

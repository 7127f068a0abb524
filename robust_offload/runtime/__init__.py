"""Robot and edge logic without ROS: frame loop, tail serving, online statistics."""

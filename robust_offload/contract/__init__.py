"""What every part of the system agrees on without ROS: topic names and message types, and where
the package's shipped files are."""

"""Planning core: system model, chance constraints, solvers. No ROS imports here."""

"""Running a fleet: its description file, the runner that starts and watches its nodes, the
network namespaces and shaped links of a many-host emulation, the discovery server, and shared
memory hygiene."""

//! Built-in workloads (being written, issue 4).

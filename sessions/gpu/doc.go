// Package gpu holds the session runtime's GPU providers: NVML (through
// go-nvml, with the libnvidia-ml library loaded at run time) and a declared
// list for hosts without NVIDIA GPUs, named "declared" wherever it shows.
//
// It owns device discovery and the health gate run before a GPU goes to its
// next user: pending page retirement, row-remap failures, leftover compute
// processes and critical XID events make a GPU unhealthy.
//
// It must never change GPU state (no resets, no clocks, no MIG changes) and
// never touch the database: sessions decides what an unhealthy verdict does.
package gpu

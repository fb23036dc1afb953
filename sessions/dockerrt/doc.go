// Package dockerrt is the session runtime's container driver on the Docker
// engine, through Docker's Go client. It owns the two session networks
// (medforge-external-sessions, a bridge with a fixed subnet, and
// medforge-internal-sessions, a Docker internal network without egress) and
// the containers mf-session-<slug>: labels, init, no restart, CPU, memory
// and pids limits, every capability dropped, no-new-privileges, the GPU by
// UUID through a device request, and bind mounts.
//
// It must never mount TEST_HOLDOUTS_DIR (Start refuses any spec whose mounts
// overlap it), never pull images (packs are built or loaded by operators),
// and never touch containers without the medforge.managed label.
package dockerrt

// Package sessions is MedForge's GPU session runtime: it gives a user a
// browser IDE (code-server in a Docker container) with one physical GPU of
// their own, a private workspace that is snapshotted on stop, and it keeps
// the database and the Docker engine in agreement across crashes.
//
// It owns:
//   - allocation: one transaction locks the user row, enforces the per-user
//     limit, picks an enabled free GPU and inserts a starting row; a unique
//     index over a generated column (the GPU id while the session is
//     active) makes two active sessions on one GPU impossible;
//   - the lifecycle starting -> running (the IDE answers on :8080) ->
//     stopping -> stopped, or error with a reason;
//   - recovery (Reconciler): at start and on a poll interval with
//     exponential backoff, it finalizes stops (exactly once: the snapshot's
//     name is claimed in the row before the snapshot is taken), finalizes
//     rows whose container vanished, removes orphan containers, fails
//     starting rows past a timeout, culls idle or too old sessions, and
//     reports its health for /healthz.
//
// The parts that touch the host are small interfaces with implementations in
// subpackages: GPUProvider (sessions/gpu: NVML, or a declared list on hosts
// without NVIDIA), WorkspaceProvider (sessions/workspace: ZFS, or plain
// directories on hosts without ZFS) and Runtime (sessions/dockerrt: the
// Docker engine). sessions/httpsessions mounts the HTTP endpoints.
//
// It must never:
//   - read, mount or otherwise expose TEST_HOLDOUTS_DIR: session containers
//     get the training and public-eval roots read-only and nothing else of
//     the competition data (ContainerSpec.Validate refuses a holdout mount);
//   - give one GPU to two active sessions, or run a container that has no
//     row (such containers are orphans and are removed);
//   - send internal error text to clients (the HTTP layer maps the errors
//     declared here to problem+json).
package sessions

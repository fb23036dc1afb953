// Package workspace holds the session runtime's workspace providers: ZFS
// (a dataset per session under tank/medforge/workspaces/<user>/<session>,
// optional quota, stop snapshots <dataset>@stop-<unixms>) and, for hosts
// without ZFS, plain directories with the same layout under a data root
// whose stop snapshots are read-only copies named <dir>@stop-<unixms>; that
// provider is named "directory" wherever it shows.
//
// Every workspace is owned by uid:gid 1000:1000, the IDE's user.
//
// Restore makes a new session's workspace from a stop snapshot (a ZFS
// clone, or a copy) and never changes the snapshot. DeleteSnapshot destroys
// one snapshot when the session service asks (a user's delete, retention);
// the provider itself decides nothing about what to keep, except that it
// refuses to destroy a ZFS snapshot a clone still depends on.
//
// It must never delete a workspace, never follow a symbolic link a user
// left in a workspace while copying, and never create anything outside its
// root or pool.
package workspace

package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/medforge/medforge/client"
	"github.com/medforge/medforge/internal/humanize"
)

func init() {
	register(command{
		name: "sessions",
		usage: "GPU sessions: sessions list | create [--from-snapshot NAME] | stop ID | queue | cancel | " +
			"snapshots | delete-snapshot ID | download ID [-o FILE] (all take --internal and --json)",
		run: runSessions,
	})
}

const sessionsUsage = `medforge sessions list [--limit N] [--json]
medforge sessions create [--internal] [--pack NAME] [--from-snapshot NAME] [--json]
medforge sessions stop [--internal] [--json] ID
medforge sessions snapshots [--internal] [--json]
medforge sessions queue [--internal] [--json]
medforge sessions cancel [--internal] [--json]
medforge sessions delete-snapshot [--internal] ID
medforge sessions download [--internal] [-o FILE] ID`

func runSessions(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return withExit(exitUsage, errors.New("usage:\n"+sessionsUsage))
	}
	sub, args := args[0], args[1:]
	c := newCompetitorCmd("sessions " + sub)
	c.usage(sessionsUsage)
	internal := c.fs.Bool("internal", false, "the INTERNAL exposure (default EXTERNAL)")
	pack := c.fs.String("pack", "", "pack name (create)")
	from := c.fs.String("from-snapshot", "", "snapshot name to start the workspace from (create)")
	out := c.fs.String("o", "", "file to write (download; default snapshot-ID.tar.gz)")
	limit := c.fs.Int("limit", 0, "sessions to list, newest first (list; 1-200, default 50)")
	pos, err := c.parse(args)
	if err != nil {
		return err
	}
	x := &sessionsCmd{c: c, exposure: "external"}
	if *internal {
		x.exposure = "internal"
	}
	idArg := func(what string) (int64, error) {
		if len(pos) != 1 {
			return 0, withExit(exitUsage, fmt.Errorf("want one %s ID; usage:\n%s", what, sessionsUsage))
		}
		id, err := strconv.ParseInt(pos[0], 10, 64)
		if err != nil || id <= 0 {
			return 0, withExit(exitUsage, fmt.Errorf("%s ID %q is not a positive number", what, pos[0]))
		}
		return id, nil
	}
	if x.cl, err = c.client(); err != nil {
		return err
	}
	switch sub {
	case "list":
		return x.list(ctx, *limit)
	case "snapshots":
		return x.snapshots(ctx)
	case "create":
		return x.create(ctx, *pack, *from)
	case "queue":
		return x.queue(ctx)
	case "cancel":
		return x.cancel(ctx)
	case "stop", "delete-snapshot", "download":
		what := "snapshot"
		if sub == "stop" {
			what = "session"
		}
		id, err := idArg(what)
		if err != nil {
			return err
		}
		switch sub {
		case "stop":
			return x.stop(ctx, id)
		case "delete-snapshot":
			return x.deleteSnapshot(ctx, id)
		}
		return x.download(ctx, id, *out)
	}
	return withExit(exitUsage, fmt.Errorf("unknown sessions command %q; usage:\n%s", sub, sessionsUsage))
}

// sessionsCmd is one `medforge sessions` command on one exposure.
type sessionsCmd struct {
	c        *competitorCmd
	cl       *client.Client
	exposure string // external or internal
}

// list prints the caller's sessions, newest first.
func (x *sessionsCmd) list(ctx context.Context, limit int) error {
	list, err := x.cl.Sessions(ctx, limit)
	if err != nil {
		return x.c.fail(err)
	}
	return printList(x.c, list, "No sessions yet: start one with medforge sessions create.",
		"ID\tSLUG\tEXPOSURE\tSTATUS\tGPU\tCREATED (UTC)\tSNAPSHOT", func(s client.Session) string {
			status := s.Status
			if s.ErrorReason != "" {
				status += " (" + s.ErrorReason + ")"
			}
			if s.Warning != "" {
				status += " (" + s.Warning + ")"
			}
			return fmt.Sprintf("%d\t%s\t%s\t%s\t%d\t%s\t%s", s.ID, s.Slug, s.Exposure, status, s.GPUID,
				s.CreatedAt.UTC().Format("2006-01-02 15:04"), s.Snapshot)
		})
}

// stop asks to stop session id.
func (x *sessionsCmd) stop(ctx context.Context, id int64) error {
	s, err := x.cl.StopSession(ctx, x.exposure, id)
	if err != nil {
		return x.c.fail(err)
	}
	if x.c.json {
		x.c.printJSON(s)
		return nil
	}
	if s.Status == "stopping" {
		fmt.Fprintf(x.c.stdout, "Session %d (%s) is stopping; its workspace is snapshotted when it has stopped.\n", s.ID, s.Slug)
		return nil
	}
	fmt.Fprintf(x.c.stdout, "Session %d (%s) has already ended (%s).\n", s.ID, s.Slug, s.Status)
	return nil
}

// snapshots prints the caller's snapshots with when retention prunes them.
func (x *sessionsCmd) snapshots(ctx context.Context) error {
	list, err := x.cl.Snapshots(ctx, x.exposure)
	if err != nil {
		return x.c.fail(err)
	}
	return printList(x.c, list, "No snapshots yet: one is taken each time a session stops.",
		"ID\tNAME\tSESSION\tTAKEN (UTC)\tSIZE\tPRUNED", func(s client.Snapshot) string {
			return fmt.Sprintf("%d\t%s\t%s\t%s\t%s\t%s", s.ID, s.Name, s.SessionSlug, s.CreatedAt.UTC().Format("2006-01-02 15:04"),
				humanize.Bytes(s.SizeBytes), pruneText(s))
		})
}

// create starts a session, or joins the waitlist.
func (x *sessionsCmd) create(ctx context.Context, pack, from string) error {
	p, err := x.cl.CreateSession(ctx, x.exposure, pack, from)
	if err != nil {
		return x.c.fail(err)
	}
	if x.c.json {
		x.c.printJSON(p)
		return nil
	}
	if p.Queued != nil {
		fmt.Fprintln(x.c.stdout, queueText(*p.Queued))
		return nil
	}
	fmt.Fprintf(x.c.stdout, "Session %d (%s) is %s on GPU %d.\n", p.Session.ID, p.Session.Slug, p.Session.Status, p.Session.GPUID)
	return nil
}

// queue prints the caller's place on the waitlist.
func (x *sessionsCmd) queue(ctx context.Context) error {
	q, err := x.cl.Queue(ctx, x.exposure)
	if err != nil {
		return x.c.fail(err)
	}
	if x.c.json {
		x.c.printJSON(q)
		return nil
	}
	if q == nil {
		fmt.Fprintln(x.c.stdout, "You are not on the "+x.exposure+" waitlist.")
		return nil
	}
	fmt.Fprintln(x.c.stdout, queueText(*q))
	return nil
}

// cancel leaves the waitlist.
func (x *sessionsCmd) cancel(ctx context.Context) error {
	q, err := x.cl.CancelQueue(ctx, x.exposure)
	if err != nil {
		return x.c.fail(err)
	}
	if x.c.json {
		x.c.printJSON(q)
		return nil
	}
	fmt.Fprintln(x.c.stdout, "Left the "+x.exposure+" waitlist.")
	return nil
}

// deleteSnapshot deletes snapshot id.
func (x *sessionsCmd) deleteSnapshot(ctx context.Context, id int64) error {
	s, err := x.cl.DeleteSnapshot(ctx, x.exposure, id)
	if err != nil {
		return x.c.fail(err)
	}
	if x.c.json {
		x.c.printJSON(s)
		return nil
	}
	fmt.Fprintf(x.c.stdout, "Deleted snapshot %d (%s).\n", s.ID, s.Name)
	return nil
}

// download writes snapshot id as .tar.gz to out (default
// snapshot-ID.tar.gz), refusing to overwrite a file.
func (x *sessionsCmd) download(ctx context.Context, id int64, out string) error {
	name := out
	if name == "" {
		name = "snapshot-" + strconv.FormatInt(id, 10) + ".tar.gz"
	}
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return withExit(exitUsage, err)
	}
	n, err := x.cl.DownloadSnapshot(ctx, x.exposure, id, f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(name)
		return x.c.fail(err)
	}
	fmt.Fprintf(x.c.stderr, "Wrote %s (%s).\n", name, humanize.Bytes(n))
	return nil
}

// printList prints list as JSON with --json; otherwise empty when it has
// no items, else a table: header, then row(item) per item (tab-separated
// columns).
func printList[T any](c *competitorCmd, list []T, empty, header string, row func(T) string) error {
	if c.json {
		c.printJSON(list)
		return nil
	}
	if len(list) == 0 {
		fmt.Fprintln(c.stdout, empty)
		return nil
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, it := range list {
		fmt.Fprintln(tw, row(it))
	}
	return tw.Flush()
}

func pruneText(s client.Snapshot) string {
	switch {
	case s.KeptBecause != "":
		return "kept (" + s.KeptBecause + ")"
	case s.PruneAt == nil:
		return "kept"
	case !s.PruneAt.After(time.Now()):
		return "at the next pass (" + s.PruneReason + ")"
	}
	return s.PruneAt.UTC().Format("2006-01-02 15:04") + " (" + s.PruneReason + ")"
}

func queueText(q client.QueueEntry) string {
	switch q.Status {
	case "granted":
		return fmt.Sprintf("Your request got a GPU: session %d.", q.SessionID)
	case "cancelled":
		return "Your request was cancelled: " + q.Reason
	}
	eta := "unknown (" + q.EstimateUnknown + ")"
	if q.EstimatedStartAt != nil {
		eta = q.EstimatedStartAt.UTC().Format("2006-01-02 15:04 UTC")
	}
	return fmt.Sprintf("Queued for a GPU: position %d of %d on the %s waitlist; estimated start %s. "+
		"Cancel with: medforge sessions cancel.", q.Position, q.QueueLength, q.Exposure, eta)
}

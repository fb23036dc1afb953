package web

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/medforge/medforge/competitions"
	"github.com/medforge/medforge/identity"
	"github.com/medforge/medforge/sessions"
	"github.com/medforge/medforge/sessions/httpsessions"
)

func (ui *UI) routes() []route {
	return []route{
		{"/", "competitions", ui.home},
		{"/login", "sign in", ui.login},
		{"/signup", "create an account", ui.signup},
		{"/account", "account and API tokens", ui.account},
		{"/competitions/:slug", "a competition (?partial=live for its live fragment)", ui.competition},
		{"/sessions", "GPU sessions (?partial=live for the live fragment)", ui.sessions},
		{"/author", "competitions I author, and a form to create one", ui.authorList},
		{"/author/:slug", "author a competition: files, holdout, scorer, certification report (?report=1), publish, submissions", ui.authorCompetition},
		{"/admin", "administration", ui.admin},
		{"/admin/users", "users and entitlements", ui.adminUsers},
		{"/admin/gpus", "GPUs", ui.adminGPUs},
		{"/admin/competitions/:slug", "manage a competition (?partial=live for rescore progress)", ui.adminCompetition},
	}
}

func signedIn(v *view) error {
	if v.User == nil {
		return &apiError{Status: http.StatusUnauthorized}
	}
	return nil
}

func adminOnly(v *view) error {
	if err := signedIn(v); err != nil {
		return err
	}
	if !v.User.IsAdmin() {
		return &apiError{Status: http.StatusForbidden, Detail: "this page is for administrators"}
	}
	return nil
}

func (ui *UI) home(c *fiber.Ctx, v *view) error {
	var comps []competitions.Competition
	if _, err := optional(ui.get(c, "/api/v2/competitions", &comps)); err != nil {
		return err
	}
	v.Title, v.Nav, v.Data = "Competitions", "home", comps
	return ui.render(c, "home", v)
}

type authData struct{ Next string }

func (ui *UI) login(c *fiber.Ctx, v *view) error {
	next := safeNext(c.Query("next"))
	if v.User != nil {
		return c.Redirect(next, http.StatusSeeOther)
	}
	v.Title, v.Nav, v.Data = "Sign in", "login", authData{Next: next}
	return ui.render(c, "login", v)
}

func (ui *UI) signup(c *fiber.Ctx, v *view) error {
	next := safeNext(c.Query("next"))
	if v.User != nil {
		return c.Redirect(next, http.StatusSeeOther)
	}
	v.Title, v.Nav, v.Data = "Create an account", "signup", authData{Next: next}
	return ui.render(c, "signup", v)
}

type accountData struct {
	Tokens []identity.APIToken
	APIURL string
}

func (ui *UI) account(c *fiber.Ctx, v *view) error {
	if err := signedIn(v); err != nil {
		return err
	}
	var d accountData
	if err := ui.get(c, "/api/v2/me/tokens", &d.Tokens); err != nil {
		return err
	}
	d.APIURL = siteURL(c, ui.srv.Config().Local(), "api.medforge."+ui.srv.Config().Domain)
	v.Title, v.Nav, v.Data = "Account and API tokens", "account", d
	return ui.render(c, "account", v)
}

// compData is the competition page.
type compData struct {
	Comp    competitions.Competition
	Dataset *competitions.Dataset
	Board   competitions.Leaderboard
	Mine    *mySubmissions
	// Pending is true while one of my submissions waits or is scored.
	Pending  bool
	Announce string
	Plot     []plotPoint
	// BoardName is the board shown (public or private); PrivateHidden is
	// set when the private board was asked for and is not revealed yet.
	BoardName     string
	PrivateHidden bool
}

type mySubmissions struct {
	Submissions    []competitions.Submission `json:"submissions"`
	DailyCap       int                       `json:"daily_cap"`
	RemainingToday int                       `json:"remaining_today"`
}

func (ui *UI) competition(c *fiber.Ctx, v *view) error {
	slug := url.PathEscape(c.Params("slug"))
	var d compData
	if err := ui.get(c, "/api/v2/competitions/"+slug, &d.Comp); err != nil {
		return err
	}
	if c.Query("partial") == "" && d.Comp.DatasetSlug != "" {
		var ds competitions.Dataset
		if ok, err := optional(ui.get(c, "/api/v2/datasets/"+url.PathEscape(d.Comp.DatasetSlug), &ds)); err != nil {
			return err
		} else if ok {
			d.Dataset = &ds
		}
	}
	d.BoardName = "public"
	if c.Query("board") == "private" && d.Comp.ScoringMode == competitions.ModePublicPrivate {
		d.BoardName = "private"
	}
	if ok, err := optional(ui.get(c, "/api/v2/competitions/"+slug+"/leaderboard?limit=100&board="+d.BoardName, &d.Board)); err != nil {
		return err
	} else if !ok {
		d.PrivateHidden = true
	}
	if v.User != nil {
		var m mySubmissions
		if err := ui.get(c, "/api/v2/competitions/"+slug+"/submissions/me", &m); err != nil {
			return err
		}
		d.Mine = &m
		for _, s := range m.Submissions {
			if s.Status == "queued" || s.Status == "scoring" || s.Rescoring {
				d.Pending = true
			}
		}
		if len(m.Submissions) > 0 {
			s := m.Submissions[0]
			d.Announce = "Latest submission " + s.Filename + ": " + s.Status
			if s.PrimaryScore != nil {
				d.Announce += ", score " + fmtScore(s.PrimaryScore)
			}
		}
		d.Plot = bestOverTime(m.Submissions, d.Comp.HigherIsBetter)
	}
	v.Title, v.Nav, v.Data = d.Comp.Title, "home", d
	if c.Query("partial") == "live" {
		v.Partial = "live"
	}
	return ui.render(c, "competition", v)
}

// sessionsData is the sessions page.
type sessionsData struct {
	// Available is false when this server runs without the session runtime.
	Available bool
	Internal  bool
	Current   []sessionView
	Past      []sessionView
	// Queued are the caller's waiting requests on the GPU waitlist, one per
	// exposure at most; Snapshots the caller's stop snapshots (restore,
	// fork, download, delete).
	Queued    []sessions.QueueEntry
	Snapshots []sessions.Snapshot
	// Pending is true while a session is starting or stopping, or a
	// request is queued: the live fragment then refreshes itself.
	Pending  bool
	Announce string
}

type sessionView struct {
	sessions.Session
	IDE string
}

func (ui *UI) sessions(c *fiber.Ctx, v *view) error {
	if err := signedIn(v); err != nil {
		return err
	}
	d := sessionsData{Internal: v.User.CanUseInternal}
	var all []sessions.Session
	ok, err := optional(ui.get(c, "/api/v2/sessions?limit=50", &all))
	if err != nil {
		return err
	}
	d.Available = ok
	cfg := ui.srv.Config()
	for _, s := range all {
		sv := sessionView{Session: s}
		if s.Status.Active() {
			sv.IDE = siteURL(c, cfg.Local(), "s-"+s.Slug+"."+string(s.Exposure)+".medforge."+cfg.Domain) + "/"
			d.Current = append(d.Current, sv)
			if s.Status != sessions.StatusRunning {
				d.Pending = true
			}
		} else {
			d.Past = append(d.Past, sv)
		}
	}
	sort.SliceStable(d.Current, func(i, j int) bool { return d.Current[i].Exposure < d.Current[j].Exposure })
	var parts []string
	for _, s := range d.Current {
		parts = append(parts, strings.ToUpper(string(s.Exposure))+" session "+s.Slug+" is "+string(s.Status))
	}
	if ok {
		exps := []sessions.Exposure{sessions.External}
		if d.Internal {
			exps = append(exps, sessions.Internal)
		}
		for _, e := range exps {
			var q *sessions.QueueEntry
			if err := ui.get(c, "/api/v2/"+string(e)+"/sessions/queue", &q); err != nil {
				return err
			}
			if q != nil && q.Status == sessions.QueueQueued {
				d.Queued = append(d.Queued, *q)
				d.Pending = true
				parts = append(parts, fmt.Sprintf("%s request queued at position %d", strings.ToUpper(string(e)), q.Position))
			}
			var snaps []sessions.Snapshot
			if err := ui.get(c, "/api/v2/"+string(e)+"/snapshots", &snaps); err != nil {
				return err
			}
			d.Snapshots = append(d.Snapshots, snaps...)
		}
		sort.SliceStable(d.Snapshots, func(i, j int) bool { return d.Snapshots[i].CreatedAt.After(d.Snapshots[j].CreatedAt) })
	}
	d.Announce = strings.Join(parts, "; ")
	v.Title, v.Nav, v.Data = "GPU sessions", "sessions", d
	if c.Query("partial") == "live" {
		v.Partial = "live"
	}
	return ui.render(c, "sessions", v)
}

// siteURL is scheme://host[:port] for host, keeping the port the browser
// used (a local run behind Caddy on :8080 or straight on :8000).
func siteURL(c *fiber.Ctx, local bool, host string) string {
	scheme := "https"
	if local {
		scheme = "http"
	}
	if _, port, err := net.SplitHostPort(string(c.Request().Host())); err == nil && port != "" && port != "80" && port != "443" {
		host += ":" + port
	}
	return scheme + "://" + host
}

type adminData struct {
	Comps []competitions.Competition
}

func (ui *UI) admin(c *fiber.Ctx, v *view) error {
	if err := adminOnly(v); err != nil {
		return err
	}
	var d adminData
	if _, err := optional(ui.get(c, "/api/v2/competitions", &d.Comps)); err != nil {
		return err
	}
	v.Title, v.Nav, v.Data = "Administration", "admin", d
	return ui.render(c, "admin", v)
}

func (ui *UI) adminUsers(c *fiber.Ctx, v *view) error {
	if err := adminOnly(v); err != nil {
		return err
	}
	var users []identity.User
	if err := ui.get(c, "/api/v2/admin/users?limit=500", &users); err != nil {
		return err
	}
	v.Title, v.Nav, v.Data = "Users and entitlements", "admin", users
	return ui.render(c, "admin_users", v)
}

type gpusData struct {
	GPUs      []sessions.GPUState
	Available bool
	// Queue is the GPU waitlist and GPU-hours per user (24 h).
	Queue httpsessions.AdminQueue
}

func (ui *UI) adminGPUs(c *fiber.Ctx, v *view) error {
	if err := adminOnly(v); err != nil {
		return err
	}
	var d gpusData
	ok, err := optional(ui.get(c, "/api/v2/admin/gpus", &d.GPUs))
	if err != nil {
		return err
	}
	d.Available = ok
	if ok {
		if err := ui.get(c, "/api/v2/admin/sessions/queue", &d.Queue); err != nil {
			return err
		}
	}
	v.Title, v.Nav, v.Data = "GPUs", "admin", d
	return ui.render(c, "admin_gpus", v)
}

type adminCompData struct {
	Comp    competitions.Competition
	Jobs    []competitions.RescoreJob
	Pending bool
}

func (ui *UI) adminCompetition(c *fiber.Ctx, v *view) error {
	if err := adminOnly(v); err != nil {
		return err
	}
	slug := url.PathEscape(c.Params("slug"))
	var d adminCompData
	if err := ui.get(c, "/api/v2/competitions/"+slug, &d.Comp); err != nil {
		return err
	}
	if err := ui.get(c, "/api/v2/admin/competitions/"+slug+"/rescore", &d.Jobs); err != nil {
		return err
	}
	for _, j := range d.Jobs {
		if j.State != "finished" {
			d.Pending = true
		}
	}
	v.Title, v.Nav, v.Data = "Manage "+d.Comp.Title, "admin", d
	if c.Query("partial") == "live" {
		v.Partial = "live"
	}
	return ui.render(c, "admin_competition", v)
}
